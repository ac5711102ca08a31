"""ASE calculators driven by geognn models."""

from geognn.calculators.ase import GeognnCalculator

__all__ = ["GeognnCalculator"]
