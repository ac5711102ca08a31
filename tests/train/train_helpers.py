"""Helpers of the training tests: toy data with graphs attached, tiny models, runs."""

import torch

from geognn.models import SchNet
from geognn.testing import morse_clusters
from geognn.train import TrainConfig, Trainer

CUTOFF = 4.0


def radius_edges(pos, cutoff):
    """The featurizer's radius graph once it exists, else all pairs closer than ``cutoff`` Å."""
    try:
        from geognn.featurize import radius_graph
    except ImportError:
        dist = torch.cdist(pos, pos)
        mask = dist < cutoff
        mask.fill_diagonal_(False)
        dst, src = torch.nonzero(mask, as_tuple=True)
        return torch.stack([src, dst])
    return radius_graph(pos, cutoff)[0]


def toy_sets(n_train=24, n_val=8, seed=0):
    data = morse_clusters(n_train + n_val, seed=seed)
    for d in data:
        d.edge_index = radius_edges(d.pos, CUTOFF)
    return data[:n_train], data[n_train:]


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return SchNet(hidden_channels=16, num_filters=16, num_interactions=2, num_rbf=16, cutoff=CUTOFF)


def run(out_dir, epochs=3, resume=False, **options):
    train, val = toy_sets()
    settings = dict(epochs=epochs, batch_size=8, lr=3e-3, warmup_steps=3, progress=False)
    settings.update(options)
    config = TrainConfig(**settings)
    model = tiny_model(config.seed)
    trainer = Trainer(model, train, val, config, out_dir, model_config=model.config, resume=resume,
                      target_names=["energy"], target_units=["eV"])
    return trainer.fit(), model
