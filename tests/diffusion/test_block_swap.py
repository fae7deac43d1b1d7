"""The block swapper itself, on a small FLUX-shaped model (double- then single-stream blocks)."""

from __future__ import annotations

import pytest
import torch

from lora_studio.diffusion import memory as M


class _Block(torch.nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(width, width)
        self.register_buffer("shift", torch.linspace(-1, 1, width))
        self.lora = torch.nn.Linear(width, width, bias=False)  # stands in for a trainable adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.gelu(self.lin(x) + self.lora(x) + self.shift)


class _FluxLike(torch.nn.Module):
    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.transformer_blocks = torch.nn.ModuleList(_Block(width) for _ in range(2))
        self.single_transformer_blocks = torch.nn.ModuleList(_Block(width) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in [*self.transformer_blocks, *self.single_transformer_blocks]:
            x = block(x)
        return x


def _model() -> _FluxLike:
    torch.manual_seed(0)
    model = _FluxLike()
    for name, p in model.named_parameters():
        p.requires_grad_(".lora." in name)
    return model


def _train_step(model: _FluxLike) -> tuple[torch.Tensor, list[torch.Tensor]]:
    x = torch.randn(4, 16, generator=torch.Generator().manual_seed(1))
    loss = model(x).square().mean()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters() if p.requires_grad]


def test_flux_blocks_are_found_in_running_order() -> None:
    model = _FluxLike()
    assert M.swappable_blocks(model) == [*model.transformer_blocks, *model.single_transformer_blocks]


def test_swapped_blocks_give_the_same_loss_and_gradients_and_rest_offloaded() -> None:
    plain = _model()
    loss_ref, grads_ref = _train_step(plain)
    model = _model()
    swapper = M.swap_blocks(model, 3, "cpu")
    assert swapper is not None and len(swapper.blocks) == 3
    assert all(swapper.is_offloaded(i) for i in range(3))
    loss, grads = _train_step(model)
    assert torch.equal(loss, loss_ref)
    assert all(torch.equal(a, b) for a, b in zip(grads, grads_ref))
    assert swapper.onloads == 3 * 2  # each swapped block: once forward, once for its backward
    assert all(swapper.is_offloaded(i) for i in range(3))
    # trainable weights never move: the optimizer keeps pointing at the same tensors
    lora = swapper.blocks[0].lora.weight
    ptr = lora.data_ptr()
    _train_step(model)
    assert lora.data_ptr() == ptr
    with torch.no_grad():  # inference: one move in per block, no recomputation
        before = swapper.onloads
        model(torch.zeros(1, 16))
        assert swapper.onloads == before + 3
    swapper.remove()  # blocks back for good, their own forward restored
    assert all(block.forward.__func__ is _Block.forward for block in swapper.blocks)
    loss_after, _ = _train_step(model)
    assert torch.equal(loss_after, loss_ref)


def test_zero_blocks_means_no_swapper() -> None:
    assert M.swap_blocks(_FluxLike(), 0, "cpu") is None


def test_next_block_is_copied_ahead_in_both_directions_with_the_same_results() -> None:
    """The copy-ahead path (a CUDA side stream there; plain copies here) changes nothing in the
    results and guesses the running order: forward ahead, backward behind."""
    plain = _model()
    loss_ref, grads_ref = _train_step(plain)
    model = _model()
    swapper = M.swap_blocks(model, 4, "cpu")
    assert swapper is not None and swapper.prefetch
    order: list[int] = []
    real_start = swapper._copier.start

    def watching_start(entries):
        order.append(next(i for i, home in enumerate(swapper._home) if home is entries))
        return real_start(entries)

    swapper._copier.start = watching_start  # type: ignore[method-assign]
    loss, grads = _train_step(model)
    assert torch.equal(loss, loss_ref) and all(torch.equal(a, b) for a, b in zip(grads, grads_ref))
    # forward 0..3: block 0 is copied when needed, 1, 2, 3 ahead; the backward recomputes 3..0:
    # block 3 again (just offloaded), then 2, 1 and 0 each copied ahead
    assert order == [0, 1, 2, 3, 3, 2, 1, 0]
    assert swapper.prefetches == 6
    assert swapper.onloads == 8 and all(swapper.is_offloaded(i) for i in range(4))
    assert not swapper._ahead  # no copy left waiting on the device


def test_swap_count_is_checked() -> None:
    from lora_studio.core.errors import ConfigError

    with pytest.raises(ConfigError, match="negative"):
        M.swap_blocks(_FluxLike(), -1, "cpu")
    with pytest.raises(ConfigError, match="only 5 blocks"):
        M.swap_blocks(_FluxLike(), 6, "cpu")
    assert len(M.swap_blocks(_FluxLike(), 5, "cpu").blocks) == 5
