"""MACE worker of benchmarks/forcefield.py: its rMD17 recipe on xTB-MD17 frames, and MD steps/s with its ASE calculator.

    .venv-mace/bin/python benchmarks/forcefield_mace.py --molecule ethanol --epochs 30 --train-split train \\
        --threads 2 --worker mace --part train --seed 0          # what forcefield.py runs, once per seed
    .venv-mace/bin/python benchmarks/forcefield_mace.py --molecule ethanol --md-steps 1000 --part md

It runs in ``.venv-mace`` (``bash benchmarks/setup_peers.sh``): mace-torch pins an e3nn that
geognn's cannot share, so geognn is not imported here; the frames file
``datasets/xtb_md17/<molecule>.pt`` is read with ``torch.load(weights_only=True)``.

* ``--part train``: MACE's rMD17 recipe in a plain loop on its modules: ``ScaleShiftMACE`` as
  ``mace_run_train --model MACE`` builds it (hidden irreps 256x0e+256x1o, i.e. 256 channels and
  max_L 1; spherical harmonics to l=3 on the edges; correlation 3; 2 interactions; r_max 5 Å;
  8 Bessels, polynomial envelope p=5; residual interaction blocks; MLP 16x0e; radial MLP
  64/64/64), atomic reference energies from the least-squares fit of the training energies
  (MACE's ``E0s="average"``), the average number of neighbours and the RMS force scale of the
  training frames, ``WeightedEnergyForcesLoss`` with weights 1 / 1000 (energies per atom),
  Adam with AMSGrad, lr 0.01, MACE's weight decay 5e-7 on the interaction and product weights,
  gradient clipping at 10, ReduceLROnPlateau (0.8, patience 50), EMA 0.99, batches of 5, float64
  (MACE's default dtype). Training batches follow forcefield.py's ``batch_order`` (the same
  permutation per seed and epoch as the other libraries, cut into batches of 5). The EMA
  weights of the epoch with the lowest validation loss are evaluated on the 500 test frames.
  ``step_ms`` is the median of forward, forces, loss, backward, clipping, optimiser step and EMA
  update of one batch (the neighbour lists are built once, before training, as MACE does).
* ``--part md``: NVE velocity Verlet (0.5 fs, ASE) from test frame 0 (positions and
  velocities of the file) with ``mace.calculators.MACECalculator`` around an untrained model
  of the same size, float64; 20 warm-up steps, then ``--md-steps`` timed steps.

One JSON line, with the keys of forcefield.py's other workers (plus ``batch_size``, ``dtype``
and ``params``); where mace does not import, a ``skipped`` line with its install command.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forcefield import INSTALL, REPO, batch_order, emit, timed_nve  # noqa: E402  (standard library only at import)

FORMAT = "geognn.xtb_md17/1"
RECIPE = dict(r_max=5.0, num_bessel=8, num_polynomial_cutoff=5, max_ell=3, num_interactions=2, mlp_irreps="16x0e",
              radial_mlp=[64, 64, 64], energy_weight=1.0, forces_weight=1000.0, lr=0.01, weight_decay=5e-7,
              clip_grad=10.0, ema_decay=0.99, lr_factor=0.8, scheduler_patience=50, valid_batch_size=10)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--molecule", default="ethanol", help="xTB-MD17 molecule (default: ethanol)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default: 30)")
    p.add_argument("--train-split", default="train", choices=["train", "train_50"], help="training frames")
    p.add_argument("--md-steps", type=int, default=1000, help="timed MD steps (default: 1000)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    p.add_argument("--part", default="train", choices=["train", "md"], help="train or md (default: train)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    p.add_argument("--worker", default="mace", help=argparse.SUPPRESS)
    for schnet_size in ("--hidden", "--interactions", "--rbf"):  # forcefield.py passes its SchNet size to every worker
        p.add_argument(schnet_size, type=int, help=argparse.SUPPRESS)
    p.add_argument("--channels", type=int, default=256, help="MACE channels per irrep (default: 256, the recipe)")
    p.add_argument("--max-L", type=int, default=1, help="highest l of the hidden irreps (default: 1, the recipe)")
    p.add_argument("--correlation", type=int, default=3, help="body order - 1 of the products (default: 3)")
    p.add_argument("--batch-size", type=int, default=5, help="training frames per batch (default: 5, the recipe)")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"],
                   help="training dtype (default: float64, MACE's default); MD always runs in float64")
    return p.parse_args(argv)


# --- frames ------------------------------------------------------------------------------------
def frames_path(molecule: str) -> str:
    root = os.environ.get("GEOGNN_DATASETS") or os.path.join(REPO, "datasets")
    return os.path.join(root, "xtb_md17", f"{molecule}.pt")


def load_frames(molecule: str) -> dict:
    """The tensors of the shipped frame file (the format geognn.data.xtb_md17 reads), safe loader."""
    import torch

    payload = torch.load(frames_path(molecule), map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{frames_path(molecule)} is not an xTB-MD17 frame file ({FORMAT!r})")
    return payload


def configurations(payload: dict, split: str):
    """MACE ``Configuration``s of one split: positions Å, energy eV, forces eV/Å (float64 numpy)."""
    from mace.data.utils import Configuration

    z = payload["z"].numpy()
    out = []
    for i in payload["splits"][split].tolist():
        out.append(Configuration(
            atomic_numbers=z, positions=payload["positions"][i].double().numpy(),
            properties={"energy": float(payload["energy"][i]), "forces": payload["forces"][i].double().numpy()},
            property_weights={"energy": 1.0, "forces": 1.0}))
    return out


# --- model -------------------------------------------------------------------------------------
def build_model(args, train_configs):
    """ScaleShiftMACE as ``mace_run_train --model MACE`` builds it, with statistics of the training frames.

    Returns the model, the atomic-number table and the training frames as ``AtomicData``.
    """
    import numpy as np
    import torch
    from e3nn import o3
    from mace import modules
    from mace.data import AtomicData
    from mace.data.utils import compute_average_E0s
    from mace.tools.torch_geometric import DataLoader
    from mace.tools.utils import AtomicNumberTable

    z_table = AtomicNumberTable(sorted({int(z) for z in train_configs[0].atomic_numbers}))
    e0s = compute_average_E0s(train_configs, z_table)  # least squares on the element counts (E0s="average")
    atomic_energies = np.array([e0s[z] for z in z_table.zs])
    data = [AtomicData.from_config(c, z_table=z_table, cutoff=RECIPE["r_max"]) for c in train_configs]
    loader = DataLoader(data, batch_size=50, shuffle=False)
    avg_num_neighbors = modules.compute_avg_num_neighbors(loader)
    _, rms_forces = modules.scaling_classes["rms_forces_scaling"](loader, atomic_energies)
    hidden_irreps = o3.Irreps((args.channels * o3.Irreps.spherical_harmonics(args.max_L)).sort().irreps.simplify())
    model = modules.ScaleShiftMACE(
        r_max=RECIPE["r_max"], num_bessel=RECIPE["num_bessel"], num_polynomial_cutoff=RECIPE["num_polynomial_cutoff"],
        max_ell=RECIPE["max_ell"], interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=modules.interaction_classes["RealAgnosticInteractionBlock"],
        num_interactions=RECIPE["num_interactions"], num_elements=len(z_table), hidden_irreps=hidden_irreps,
        MLP_irreps=o3.Irreps(RECIPE["mlp_irreps"]), atomic_energies=atomic_energies,
        avg_num_neighbors=avg_num_neighbors, atomic_numbers=z_table.zs, correlation=args.correlation,
        gate=torch.nn.functional.silu, atomic_inter_scale=float(np.asarray(rms_forces).reshape(-1)[0]),
        atomic_inter_shift=0.0, radial_MLP=RECIPE["radial_mlp"], radial_type="bessel")
    return model, z_table, data


def optimizer_for(model):
    """Adam (AMSGrad) with MACE's parameter groups: weight decay on interaction linears and products only."""
    import torch

    decay, no_decay = [], []
    for name, param in model.interactions.named_parameters():
        (decay if "linear.weight" in name or "skip_tp_full.weight" in name else no_decay).append(param)
    groups = [
        {"params": list(model.node_embedding.parameters()), "weight_decay": 0.0},
        {"params": decay, "weight_decay": RECIPE["weight_decay"]},
        {"params": no_decay, "weight_decay": 0.0},
        {"params": list(model.products.parameters()), "weight_decay": RECIPE["weight_decay"]},
        {"params": list(model.readouts.parameters()), "weight_decay": 0.0},
    ]
    return torch.optim.Adam(groups, lr=RECIPE["lr"], amsgrad=True, betas=(0.9, 0.999))


# --- training ----------------------------------------------------------------------------------
def train(args):
    import torch
    from mace import modules
    from mace.data import AtomicData
    from mace.tools.torch_geometric import Batch
    from torch_ema import ExponentialMovingAverage

    torch.set_num_threads(args.threads)
    torch.set_default_dtype(getattr(torch, args.dtype))
    torch.manual_seed(args.seed)
    payload = load_frames(args.molecule)
    model, z_table, train_data = build_model(args, configurations(payload, args.train_split))

    def batches(split):
        data = [AtomicData.from_config(c, z_table=z_table, cutoff=RECIPE["r_max"]) for c in configurations(payload, split)]
        size = RECIPE["valid_batch_size"]
        return [Batch.from_data_list(data[i:i + size]) for i in range(0, len(data), size)]

    val_batches, test_batches = batches("val"), batches("test")
    loss_fn = modules.WeightedEnergyForcesLoss(energy_weight=RECIPE["energy_weight"],
                                               forces_weight=RECIPE["forces_weight"])
    opt = optimizer_for(model)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=RECIPE["lr_factor"],
                                                       patience=RECIPE["scheduler_patience"])
    ema = ExponentialMovingAverage(model.parameters(), decay=RECIPE["ema_decay"])

    best, best_state, best_epoch, step_times = float("inf"), None, 0, []
    t_start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        for ids in batch_order(len(train_data), args.batch_size, epoch, args.seed):
            batch = Batch.from_data_list([train_data[i] for i in ids])
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            out = model(batch.to_dict(), training=True, compute_force=True)
            loss = loss_fn(pred=out, ref=batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=RECIPE["clip_grad"])
            opt.step()
            ema.update()
            step_times.append(time.perf_counter() - t0)
        model.eval()
        with ema.average_parameters():
            val_loss = statistics.mean(
                float(loss_fn(pred=model(b.to_dict(), training=False, compute_force=True), ref=b).detach())
                for b in val_batches)
            if val_loss < best:
                best, best_state, best_epoch = val_loss, copy.deepcopy(model.state_dict()), epoch + 1
        sched.step(val_loss)
    wall = time.perf_counter() - t_start
    model.load_state_dict(best_state)
    model.eval()
    return {**evaluate(model, test_batches), "step_ms": 1000 * statistics.median(step_times), "wall_s": wall,
            "best_epoch": best_epoch, "batch_size": args.batch_size, "dtype": args.dtype,
            "params": sum(p.numel() for p in model.parameters()),
            "command": "mace rMD17 recipe in benchmarks/forcefield_mace.py (train), mace-torch " + mace_version()}


def evaluate(model, test_batches):
    """Energy MAE (meV), force MAE (meV/Å, per component) and mean per-atom force cosine on the test frames."""
    import torch

    e_err, f_err, cos = [], [], []
    for b in test_batches:
        out = model(b.to_dict(), training=False, compute_force=True)
        forces = out["forces"].detach()
        e_err.append((out["energy"].detach() - b["energy"]).abs())
        f_err.append((forces - b["forces"]).abs().flatten())
        cos.append(torch.nn.functional.cosine_similarity(forces, b["forces"], dim=1))
    return {"energy_mae_meV": 1000 * torch.cat(e_err).mean().item(),
            "force_mae_meV": 1000 * torch.cat(f_err).mean().item(), "force_cos": torch.cat(cos).mean().item()}


def mace_version() -> str:
    from importlib.metadata import version

    return version("mace-torch")


# --- MD speed ----------------------------------------------------------------------------------
def md_speed(args):
    import torch
    from ase import Atoms, units
    from mace.calculators import MACECalculator

    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float64)
    payload = load_frames(args.molecule)
    torch.manual_seed(0)
    model, _, _ = build_model(args, configurations(payload, args.train_split))  # untrained: speed only
    calculator = MACECalculator(models=model.eval(), device="cpu", default_dtype="float64")
    first = int(payload["splits"]["test"][0])
    atoms = Atoms(numbers=payload["z"].numpy(), positions=payload["positions"][first].double().numpy())
    atoms.set_velocities(payload["velocities"][first].double().numpy() / units.fs)  # Å/fs -> ASE units
    return {**timed_nve(atoms, calculator, args.md_steps), "dtype": "float64",
            "params": sum(p.numel() for p in model.parameters())}


def main(argv=None):
    args = parse_args(argv)
    try:
        result = train(args) if args.part == "train" else md_speed(args)
    except ImportError as err:
        emit({"library": "mace", "part": args.part, "skipped": f"mace is not installed here ({err}); "
              f"install: {INSTALL['mace']}"})
        return 0
    emit({"suite": "forcefield", "library": "mace", "part": args.part, "molecule": args.molecule, "seed": args.seed,
          "epochs": args.epochs, "train_split": args.train_split, "threads": args.threads, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
