"""Run by test_kg_distributed.py under torchrun: two epochs of a small ConvE, then each rank saves its state."""

import sys
from pathlib import Path

import torch

from geognn.data import KGDataset
from geognn.models import ConvE
from geognn.train import LinkPrediction, TrainConfig, Trainer
from geognn.train.distributed import teardown


def main(out_dir: str) -> None:
    torch.set_num_threads(1)
    kg = KGDataset("nations")
    config = TrainConfig.for_task("link_prediction", epochs=2, progress=False, device="cpu")
    model = ConvE(kg.num_entities, kg.num_relations, embedding_dim=16, num_filters=4)
    trainer = Trainer(model, kg.training, kg.valid, config, out_dir, model_name="conve", test_set=kg.test,
                      task=LinkPrediction(kg, config))
    summary = trainer.fit()
    torch.save({"state": model.state_dict(), "steps": trainer.scheduler.steps, "world_size": trainer.ctx.world_size,
                "val_mrr": [row["val_mrr"] for row in trainer.history],
                "num_ranked": summary.get("metrics", {}).get("num_ranked")},
               Path(out_dir) / f"rank{trainer.ctx.rank}.pt")
    teardown(trainer.ctx)


if __name__ == "__main__":
    main(sys.argv[1])
