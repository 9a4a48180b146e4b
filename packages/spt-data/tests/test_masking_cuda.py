"""The mask generators on CUDA: a CPU generator gives the CPU masks, a CUDA one reproduces."""

import pytest
import torch

from spt_data.masking import BlockMask, MultiBlockMask, RandomMask

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

PATCH_MASKS = [
    RandomMask(14, 0.75),
    BlockMask(14, ratio=0.4),
    BlockMask(14, ratio=(0.1, 0.5), mask_probability=0.5),
]


@pytest.mark.parametrize("gen", PATCH_MASKS, ids=repr)
def test_cpu_generator_gives_the_same_patch_masks_on_cuda(gen):
    cpu = gen.generate(64, generator=torch.Generator().manual_seed(0))
    cuda = gen.generate(64, device="cuda", generator=torch.Generator().manual_seed(0))
    assert cuda.device.type == "cuda"
    assert torch.equal(cuda.cpu(), cpu)


def test_cpu_generator_gives_the_same_multi_block_masks_on_cuda():
    gen = MultiBlockMask(14)
    cpu = gen.generate(64, generator=torch.Generator().manual_seed(0))
    cuda = gen.generate(64, device="cuda", generator=torch.Generator().manual_seed(0))
    for key in MultiBlockMask.KEYS:
        assert cuda[key].device.type == "cuda"
        assert torch.equal(cuda[key].cpu(), cpu[key]), key


@pytest.mark.parametrize("gen", [*PATCH_MASKS, MultiBlockMask(14)], ids=repr)
def test_cuda_generator_reproduces_masks_on_cuda(gen):
    def draw(seed):
        out = gen.generate(64, generator=torch.Generator("cuda").manual_seed(seed))
        return out if isinstance(out, dict) else {"mask": out}

    a, b, c = draw(1), draw(1), draw(2)
    assert all(v.device.type == "cuda" for v in a.values())
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a if a[k].shape == c[k].shape)


def test_random_mask_counts_on_cuda_with_the_global_rng():
    masks = RandomMask((16, 16), 0.75).generate(256, device="cuda")
    assert masks.sum(dim=1).unique().tolist() == [192]
