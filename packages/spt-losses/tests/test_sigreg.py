"""SIGReg against the Epps-Pulley statistic of LeJEPA written out, and as a normality test."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).parent))
from _slow_references import closed_form_epps_pulley, reference_sigreg

from spt_losses import SIGReg

F64 = torch.float64


def _embeddings(n: int, d: int, seed: int, scale: float = 1.0) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, d, generator=gen, dtype=F64)


@pytest.mark.parametrize(("t_max", "num_points"), [(5.0, 17), (3.0, 9), (4.0, 3)])
def test_statistic_matches_the_trapezoid_rule_written_out(t_max: float, num_points: int) -> None:
    sigreg = SIGReg(num_slices=5, t_max=t_max, num_points=num_points)
    x = _embeddings(7, 4, seed=0, scale=1.5).requires_grad_()
    ref_x = x.detach().clone().requires_grad_()
    directions = sigreg.sample_directions(4, step=3, device="cpu", dtype=F64)

    value = sigreg.statistic(x, directions)
    expected = reference_sigreg(ref_x, directions, t_max=t_max, num_points=num_points)
    value.backward()
    expected.backward()
    assert value.dtype == F64
    torch.testing.assert_close(value, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(x.grad, ref_x.grad, rtol=1e-10, atol=1e-10)


def test_forward_is_the_statistic_on_the_directions_of_its_step() -> None:
    sigreg = SIGReg(num_slices=6)
    x = _embeddings(9, 3, seed=1)
    directions = sigreg.sample_directions(3, step=4, device="cpu", dtype=F64)
    torch.testing.assert_close(
        sigreg(x, step=4), reference_sigreg(x, directions), rtol=1e-10, atol=1e-10
    )


def test_quadrature_approaches_the_integral_over_the_real_line() -> None:
    """The published definition is an integral; the 17-knot rule is close to it and a fine
    grid on a wider interval equals its closed form and a direct many-point integral."""
    x = _embeddings(64, 8, seed=2)
    sigreg = SIGReg(num_slices=4)
    directions = sigreg.sample_directions(8, step=0, device="cpu", dtype=F64)
    projections = x @ directions  # (64, 4)
    closed = torch.stack([closed_form_epps_pulley(projections[:, m]) for m in range(4)]).mean()

    # a direct numerical integral with 40001 points on [-12, 12]
    t = torch.linspace(-12, 12, 40001, dtype=F64)
    angles = projections.unsqueeze(-1) * t  # (64, 4, T)
    gaussian = torch.exp(-0.5 * t**2)
    error = (angles.cos().mean(0) - gaussian) ** 2 + angles.sin().mean(0) ** 2  # (4, T)
    direct = (64 * torch.trapezoid(error * gaussian, t, dim=-1)).mean()
    torch.testing.assert_close(direct, closed, rtol=1e-9, atol=1e-9)

    fine = SIGReg(num_slices=4, t_max=12.0, num_points=1201).statistic(x, directions)
    torch.testing.assert_close(fine, closed, rtol=1e-9, atol=1e-9)
    coarse = sigreg.statistic(x, directions)  # the paper's 17 knots on [-5, 5]
    assert abs(float(coarse) - float(closed)) < 0.02 * float(closed)


def test_gaussian_samples_give_a_small_statistic_non_gaussian_ones_a_large_one() -> None:
    torch.manual_seed(0)
    sigreg = SIGReg(num_slices=256)
    n, d = 1024, 32
    null = math.sqrt(2 * math.pi) - math.sqrt(2 * math.pi / 3)  # E[statistic] under N(0, I)
    gaussian = sigreg(torch.randn(n, d), step=0)
    assert float(gaussian) < 2 * null
    collapsed = sigreg(torch.zeros(n, d), step=0)
    expected_collapsed = n * (
        math.sqrt(2 * math.pi) - 2 * math.sqrt(math.pi) + math.sqrt(2 * math.pi / 3)
    )
    torch.testing.assert_close(float(collapsed), expected_collapsed, rtol=1e-3, atol=0.0)
    shifted = sigreg(torch.randn(n, d) + 2.0, step=0)
    scaled = sigreg(3.0 * torch.randn(n, d), step=0)
    low_rank = sigreg(torch.randn(n, 2) @ torch.randn(2, d), step=0)
    for other in (shifted, scaled, low_rank):
        assert float(other) > 50 * float(gaussian)
    # in one dimension (where no projection averages features) the statistic also tells a
    # uniform law of mean 0 and variance 1 from the Gaussian: the test sees past 2 moments
    uniform = sigreg((torch.rand(n, 1) - 0.5) * math.sqrt(12), step=0)
    assert float(uniform) > 10 * float(sigreg(torch.randn(n, 1), step=0))
    assert float(uniform) > 5 * null


def test_directions_are_unit_vectors_drawn_from_seed_and_step() -> None:
    sigreg = SIGReg(num_slices=10, seed=3)
    a = sigreg.sample_directions(6, step=7, device="cpu", dtype=torch.float32)
    assert a.shape == (6, 10)
    torch.testing.assert_close(torch.linalg.vector_norm(a, dim=0), torch.ones(10))
    torch.testing.assert_close(
        a, SIGReg(num_slices=10, seed=3).sample_directions(6, 7, "cpu", torch.float32)
    )
    assert not torch.allclose(a, sigreg.sample_directions(6, 8, "cpu", torch.float32))
    assert not torch.allclose(
        a, SIGReg(num_slices=10, seed=4).sample_directions(6, 7, "cpu", torch.float32)
    )
    a64 = sigreg.sample_directions(6, step=7, device="cpu", dtype=F64)
    torch.testing.assert_close(a64.float(), a)  # every precision uses the same directions
    torch.testing.assert_close(torch.linalg.vector_norm(a64, dim=0), torch.ones(10, dtype=F64))


def test_calls_without_step_draw_new_directions_and_the_count_is_in_the_state_dict() -> None:
    sigreg = SIGReg(num_slices=8)
    x = _embeddings(16, 4, seed=5)
    values = [sigreg(x) for _ in range(3)]
    for step, value in enumerate(values):
        torch.testing.assert_close(value, sigreg(x, step=step), rtol=0, atol=0)
    assert sigreg.calls == 3  # an explicit step does not advance the count
    resumed = SIGReg(num_slices=8)
    resumed.load_state_dict(sigreg.state_dict())
    assert resumed.calls == 3
    torch.testing.assert_close(resumed(x), sigreg(x), rtol=0, atol=0)


def test_statistic_does_not_depend_on_the_order_of_samples() -> None:
    sigreg = SIGReg(num_slices=8)
    x = _embeddings(12, 5, seed=6)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(sigreg(x, step=1), sigreg(x[perm], step=1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_embeddings_are_reduced_in_float32(dtype: torch.dtype) -> None:
    torch.manual_seed(7)
    x = (3 * torch.randn(64, 16)).requires_grad_()
    layer = nn.Linear(16, 16)
    sigreg = SIGReg(num_slices=32)
    with torch.autocast("cpu", dtype=dtype):
        z = layer(x)
        assert z.dtype == dtype
        value = sigreg(z, step=0)
    assert value.dtype == torch.float32
    value.backward()
    assert x.grad is not None
    assert torch.isfinite(value)
    assert torch.isfinite(x.grad).all()
    reference = sigreg(layer(x).detach(), step=0)
    torch.testing.assert_close(value.detach(), reference, rtol=0.05, atol=0.05)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_slices": 0}, "num_slices"),
        ({"t_max": 0.0}, "t_max"),
        ({"num_points": 16}, "num_points must be an odd int"),
        ({"num_points": 1}, "num_points"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments_name_themselves(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SIGReg(**kwargs)  # type: ignore[arg-type]


def test_bad_inputs_give_their_shapes() -> None:
    sigreg = SIGReg(num_slices=4)
    with pytest.raises(ValueError, match=r"embeddings.*\(4, 3, 2\)"):
        sigreg(torch.randn(4, 3, 2))
    with pytest.raises(ValueError, match=r"directions.*\(5, 4\).*\(4, 3\)"):
        sigreg.statistic(torch.randn(4, 3), torch.randn(5, 4))
    with pytest.raises(ValueError, match="step must be an int"):
        sigreg(torch.randn(4, 3), step=-1)
