"""torch's fused Adam / AdamW with less Python per step.

``torch.optim.Adam(..., fused=True)`` runs one fused kernel per parameter tensor, but its
``step()`` first walks a general path in Python (profiling hooks, lazy state
initialisation, grouping by device and dtype, checks for CUDA-graph capture, closures,
complex and sparse tensors, AMP's grad scaler). In a training loop whose kernels have
just evicted the caches, that Python costs more than the update itself for a small model
(measured in docs/performance.md).

:class:`LeanAdam` and :class:`LeanAdamW` are those optimizers: same constructor, same
``param_groups``, same state (``step``, ``exp_avg``, ``exp_avg_sq``) and state_dict, and
``step()`` calls the same kernels (``torch._foreach_add_`` on the step counts, then
``torch._fused_adam_`` / ``torch._fused_adamw_``), so the parameters after each step are
bit for bit those of torch's fused optimizer (tested). The short path is taken only in
the plain case: fused, no closure, state already created (torch's own ``step()`` runs the
first step), no hooks, no grad scaler, float ``lr`` and betas, no amsgrad / maximize /
capturable / differentiable, every gradient dense, real and on the device and dtype of
the first. Anything else, or a torch without those ops, goes to torch's ``step()``.
``zero_grad(set_to_none=True)`` likewise sets the gradients to None directly.

``clip_and_step(max_norm)`` is what a training step does after backward
(``nn.utils.clip_grad_norm_`` then ``step()``) in one compiled op, ``seqkit::adam_step_``
(csrc/torch/adam_step.cpp), for parameters on the CPU: fewer cold ops after the backward
pass than the two (the figures are in docs/performance.md). The
update is torch's fused kernel's, bit for bit where that kernel takes its vector path; the
norm is summed in double (torch sums float32), so the clipping factor, and a few elements
of ``exp_avg_sq`` where torch's kernel takes its scalar remainder, can differ from torch's
in the last bit. It returns None, having done nothing, wherever that op does not apply
(then clip and step as before).
"""
from __future__ import annotations

import math

import torch
from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks

__all__ = ["LeanAdam", "LeanAdamW"]


class _LeanFusedStep:
    """The short step of torch's fused Adam / AdamW (a mixin before the torch class)."""

    #: set to False when this torch lacks the fused ops (then torch's step() always runs)
    _lean_available = all(hasattr(torch, op) for op in ("_fused_adam_", "_fused_adamw_", "_foreach_add_"))

    def _lean_groups(self):
        """[(group, params, grads, states)] when the short path applies, else None."""
        if (not self.defaults.get("fused") or self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks
                or _global_optimizer_pre_hooks or _global_optimizer_post_hooks
                or getattr(self, "grad_scale", None) is not None or getattr(self, "found_inf", None) is not None
                or torch.compiler.is_compiling() or not self._one_layout()):
            return None
        out, state = [], self.state
        for group in self.param_groups:
            if (group["amsgrad"] or group["maximize"] or group["capturable"] or group["differentiable"]
                    or type(group["lr"]) is not float or type(group["betas"][0]) is not float
                    or type(group["betas"][1]) is not float):
                return None
            params, grads, states = [], [], []
            for p in group["params"]:
                g = p.grad  # (torch keeps a gradient on its parameter's device and dtype)
                if g is None:
                    continue
                s = state.get(p)
                if not s or g.is_sparse:
                    return None
                params.append(p)
                grads.append(g)
                states.append(s)
            out.append((group, params, grads, states))
        return out

    def _one_layout(self) -> bool:
        """Whether every parameter is real and on the device and dtype of the first (checked
        again only when the parameters change)."""
        key = tuple(id(p) for group in self.param_groups for p in group["params"])
        if getattr(self, "_layout_key", None) != key:
            params = [p for group in self.param_groups for p in group["params"]]
            self._layout_ok = all(not p.is_complex() and p.device == params[0].device and p.dtype == params[0].dtype
                                  for p in params)
            self._layout_key = key
        return self._layout_ok

    def step(self, closure=None):
        groups = self._lean_groups() if closure is None and self._lean_available else None
        if groups is None:
            return self._torch_step(closure)
        with torch.no_grad():
            for group, params, grads, states in groups:
                if not params:
                    continue
                steps = [s["step"] for s in states]
                beta1, beta2 = group["betas"]
                fused = torch._fused_adamw_ if group.get("decoupled_weight_decay") else torch._fused_adam_
                torch._foreach_add_(steps, 1)
                fused(params, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [], steps,
                      amsgrad=False, lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=group["weight_decay"],
                      eps=group["eps"], maximize=False, grad_scale=None, found_inf=None)
        return None

    # torch.optim.Optimizer wraps a class's step() in its profiling-and-hooks wrapper unless
    # the step is marked as hooked: the short path skips that wrapper (it runs only without
    # hooks), and _torch_step runs torch's step inside it
    step.hooked = True

    def clip_and_step(self, max_norm: float = math.inf) -> float | None:
        """Clip the gradients' total 2-norm to ``max_norm`` (``inf``: measure only), then
        step, in one compiled op; returns the norm before clipping.

        When the norm is not finite nothing changes (gradients, parameters and state stay as
        they were) and it is returned, so the caller can skip the step or report it. Returns
        None, having changed nothing, where the op does not apply: no compiled extension,
        parameters not on the CPU or not float32/float64, non-contiguous tensors, several
        parameter groups, or any case in which ``step()`` takes torch's path (hooks, state
        not yet created, amsgrad, ...). Then clip and call ``step()`` as usual.
        """
        if max_norm != max_norm or max_norm <= 0:
            raise ValueError(f"clip_and_step: max_norm must be positive (inf to only measure), got {max_norm}")
        op = _compiled_adam_step()
        groups = self._lean_groups() if op is not None and self._lean_available else None
        if groups is None or len(groups) != 1:
            return None
        group, params, grads, states = groups[0]
        if not params:
            return None
        first = params[0]
        if (first.device.type != "cpu" or first.dtype not in (torch.float32, torch.float64)
                or not all(p.is_contiguous() and g.is_contiguous() for p, g in zip(params, grads))):
            return None
        beta1, beta2 = group["betas"]
        with torch.no_grad():
            return op(params, grads, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
                      [s["step"] for s in states], group["lr"], beta1, beta2, group["weight_decay"], group["eps"],
                      bool(group.get("decoupled_weight_decay")), float(max_norm))

    def _torch_step(self, closure):
        """torch's step(), with the step hooks and the profiler range it always has."""
        cls = type(self)
        if "_hooked_torch_step" not in cls.__dict__:
            base = cls._torch_class.step
            # hooked already when a plain torch optimizer of that class was created first
            cls._hooked_torch_step = base if getattr(base, "hooked", False) else \
                torch.optim.Optimizer.profile_hook_step(base)
        return cls._hooked_torch_step(self, closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        if not set_to_none:
            return super().zero_grad(set_to_none)
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None


def _compiled_adam_step():
    """torch.ops.seqkit.adam_step_ when the compiled extension serves the ops, else None."""
    from .. import ops

    if ops.backend() != "cpp":
        return None
    return torch.ops.seqkit.adam_step_


class LeanAdam(_LeanFusedStep, torch.optim.Adam):
    """``torch.optim.Adam`` with the short fused step (see the module docstring)."""

    _torch_class = torch.optim.Adam


class LeanAdamW(_LeanFusedStep, torch.optim.AdamW):
    """``torch.optim.AdamW`` with the short fused step (see the module docstring)."""

    _torch_class = torch.optim.AdamW
