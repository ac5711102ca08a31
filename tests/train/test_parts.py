import os

import pytest
import torch

from geognn.train import EMA, ErrorAccumulator, WarmupPlateau, atomic_write_bytes


def test_warmup_ramps_linearly_then_plateau_cuts_the_rate():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = WarmupPlateau(opt, lr=1.0, warmup_steps=10, patience=1, factor=0.5, min_lr=0.2)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)
    for _ in range(5):
        sched.step_batch()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 + 0.99 * 0.5)
    for _ in range(10):
        sched.step_batch()
    assert opt.param_groups[0]["lr"] == 1.0
    sched.step_epoch(1.0)  # best
    sched.step_epoch(1.0)  # 1 bad epoch: within patience
    assert opt.param_groups[0]["lr"] == 1.0
    sched.step_epoch(1.0)  # 2 bad epochs: cut
    assert opt.param_groups[0]["lr"] == 0.5
    for _ in range(10):
        sched.step_epoch(1.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.2)  # floor


def test_ema_follows_the_closed_form_average():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = EMA(model, decay=0.5)
    shadow = 0.0
    for step, value in enumerate([1.0, 2.0, 3.0], start=1):
        with torch.no_grad():
            model.weight.fill_(value)
        ema.update(model)
        d = min(0.5, (1 + step) / (10 + step))
        shadow = d * shadow + (1 - d) * value
    assert ema.shadow["weight"].item() == pytest.approx(shadow)
    with ema.applied(model):
        assert model.weight.item() == pytest.approx(shadow)
    assert model.weight.item() == 3.0


def test_error_accumulator_gives_mae_and_rmse_per_target():
    acc = ErrorAccumulator(2)
    acc.add(torch.tensor([[1.0, 0.0], [3.0, 0.0]]), torch.tensor([[0.0, 0.0], [0.0, 4.0]]), loss=2.0)
    result = acc.result(["a", "b"])
    assert result["mae_a"] == 2.0 and result["rmse_a"] == pytest.approx((5.0) ** 0.5)
    assert result["mae_b"] == 2.0 and result["rmse_b"] == pytest.approx(8.0 ** 0.5)
    assert result["loss"] == 2.0 and "force_mae" not in result


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"old")

    def failing(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, failing)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["ckpt.pt"]
