"""Run by test_distributed.py under torchrun: a few DDP steps, then each rank saves its weights."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).parent))
from train_helpers import tiny_model, toy_sets  # noqa: E402

from geognn.train import TrainConfig, Trainer  # noqa: E402


def build(name: str, seed: int, train):
    """The tiny SchNet of the training tests, or a tiny Cormorant on the same toy molecules."""
    if name == "schnet":
        return tiny_model(seed=seed)
    from geognn.models import Cormorant

    torch.manual_seed(seed)
    species = sorted({int(z) for d in train for z in d.z})
    return Cormorant(max_l=1, max_sh=1, num_channels=3, num_levels=2, cutoff=4.0, species=species)


def main(out_dir: str, name: str = "schnet") -> None:
    torch.set_num_threads(1)
    train, val = toy_sets()
    config = TrainConfig(epochs=2, batch_size=4, lr=3e-3, warmup_steps=2, progress=False, device="cpu")
    model = build(name, dist.get_rank() if dist.is_initialized() else 0, train)
    trainer = Trainer(model, train, val, config, out_dir, model_name=name, model_config=model.config,
                      target_names=["energy"], target_units=["eV"])
    trainer.fit()
    rank = trainer.ctx.rank
    torch.save({"state": model.state_dict(), "world_size": trainer.ctx.world_size,
                "steps": trainer.scheduler.steps,
                "ema": trainer.ema.shadow}, Path(out_dir) / f"rank{rank}.pt")
    from geognn.train.distributed import teardown
    teardown(trainer.ctx)


if __name__ == "__main__":
    main(*sys.argv[1:])
