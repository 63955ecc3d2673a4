"""The kernel of :mod:`helpers.ssim`: the similarity maps of two images, their derivatives, and the
autograd function that gives the mean of each image's map an analytic gradient.

:func:`similarity_terms` filters the five moments (:func:`_moment_stack`) once, forms the SSIM or cs
map and, for each image asked, three pointwise derivative maps (:func:`_pointwise_terms`);
:class:`MeanSimilarity` filters those back (the transposed, full filtering) in the forward pass, so
that autograd keeps one gradient map per image and the backward is a product.
:func:`compile_pointwise` optionally runs the pointwise algebra through ``torch.compile``.

Shapes: images ``(N, C, H, W)``; maps ``(N, C, H', W')`` with ``H' = H - k + 1`` for a ``k``-tap
window; means ``(N, C)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from helpers.local_stats import filter_full, filter_valid

# --------------------------------------------------------------------------------------------
# The similarity maps and their derivatives
# --------------------------------------------------------------------------------------------


def _moment_stack(x: Tensor, y: Tensor, shift: Tensor) -> Tensor:
    """``[x, y, xc^2, yc^2, (x - y)^2]`` stacked ``(N, 5, C, H, W)``; ``xc = x - shift``, ``yc = y - shift``.

    The first two are the images themselves: their local means keep their relative precision where
    the images are dark (a mean of ``xc`` plus ``shift`` would not). Outside autograd (the forward of
    :class:`MeanSimilarity`) the five maps are written straight into one buffer; under autograd
    (:func:`ssim_map`) they are stacked, which autograd can follow.
    """
    if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
        xc, yc = x - shift, y - shift
        return torch.stack([x, y, xc * xc, yc * yc, (x - y) ** 2], dim=1)
    stack = x.new_empty(x.shape[0], 5, *x.shape[1:])
    stack[:, 0].copy_(x)
    stack[:, 1].copy_(y)
    torch.sub(x, shift, out=stack[:, 2]).square_()
    torch.sub(y, shift, out=stack[:, 3]).square_()
    torch.sub(x, y, out=stack[:, 4]).square_()
    return stack


def similarity_terms(
    x: Tensor, y: Tensor, window: Tensor, c1: float, c2: float, luminance: bool,
    wrt: tuple[bool, bool] = (False, False),
) -> tuple[Tensor, Tensor | None, Tensor]:
    """The SSIM map (or the cs map when ``luminance`` is False) and what its backward needs.

    ``x``, ``y``: ``(N, C, H, W)``. Returns ``(similarity, coefficients, shift)``: the map
    ``(N, C, H', W')`` with ``H' = H - k + 1``; the pointwise derivative maps of the similarity with
    respect to the local statistics of the images ``wrt`` asks for (x, y), stacked ``(N, K, C, H', W')``
    (``None`` if neither); and ``shift`` ``(N, 1, 1, 1)``, the constant subtracted from both images
    (``xc = x - shift``, ``yc = y - shift``) before the moments are taken.

    The map depends on the images only through ``mu = G xc``, ``E[xc^2] = G xc^2`` and
    ``E[xc yc] = G (xc yc)`` (``G`` the valid filtering), so with ``D_m = d(map)/d(statistic m)``
    the gradient of ``sum(map * g)`` is::

        d/dx = G^T(g D_mux) + 2 xc G^T(g D_exx) + yc G^T(g D_exy)            (K = 3: mux, exx, exy)
        d/dy = G^T(g D_muy) + 2 yc G^T(g D_eyy) + xc G^T(g D_exy)            (K = 3: muy, eyy, exy)

    and both together stack ``[mux, exx, exy, muy, eyy]`` (K = 5). (The forward evaluates the same
    function through ``E[(x - y)^2] = E[xc^2] + E[yc^2] - 2 E[xc yc]``, which rounds better; the
    derivatives are taken in the three statistics above.) The five filterings run in one stacked
    pass (:func:`~helpers.local_stats.filter_valid`); the pointwise algebra after them is
    :func:`_pointwise_terms`, compiled into one kernel where :func:`compile_pointwise` asks for it.
    """
    n, c, h, w = x.shape
    k = window.numel()
    shift = (x.mean(dim=(1, 2, 3), keepdim=True) + y.mean(dim=(1, 2, 3), keepdim=True)) / 2
    stack = _moment_stack(x, y, shift)  # (N, 5, C, H, W): x, y, xc^2, yc^2, (x - y)^2
    stats = filter_valid(stack.view(n, 5 * c, h, w), window).view(n, 5, c, h - k + 1, w - k + 1)
    del stack
    terms = _kernel("terms") if not torch.is_grad_enabled() else _pointwise_terms
    similarity, coefficients = terms(stats, shift, c1, c2, luminance, wrt)
    return similarity, coefficients, shift


def _pointwise_terms(
    stats: Tensor, shift: Tensor, c1: float, c2: float, luminance: bool, wrt: tuple[bool, bool]
) -> tuple[Tensor, Tensor | None]:
    """From the five local moments ``(N, 5, C, H', W')`` (of ``x``, ``y``, ``xc^2``, ``yc^2``,
    ``(x - y)^2``) to the similarity map ``(N, C, H', W')`` and the derivative maps (see
    :func:`similarity_terms`). Pointwise only, so that ``torch.compile`` can fuse it into one loop.
    """
    ux, uy, exx, eyy, edd = stats.unbind(1)  # local moments, (N, C, H', W') each
    mx, my = ux - shift, uy - shift  # the local means of xc and yc
    # The covariance comes from the variance of the difference, 2 cov = var_x + var_y - var_(x-y),
    # so cs = (b2 - var_(x-y)) / b2 with b2 = var_x + var_y + C2. For images that are close, as a
    # trained model's output is to its target, (x - y)^2 is small and its local mean keeps far more
    # digits in float32 than E[xc yc] - mu_x mu_y, whose two terms nearly cancel (tests: the worst
    # float32 error over 18 photographs x 3 noise levels x 3 seeds fell from 3.4e-6 to 8.3e-7 for
    # SSIM and from 2.1e-6 to 2.0e-7 for MS-SSIM, together with the uncentred means).
    # Rounding can give a variance below 0, or var_(x-y) beyond 2 (var_x + var_y), bounds the true
    # statistics never break (the second is |cov| <= (var_x + var_y) / 2, from Cauchy-Schwarz). Both
    # are clamped: then |cs| <= 1, and identical images (x - y = 0) score exactly 1.
    # (in-place operations only on fresh intermediates: fewer passes over memory when eager)
    var_x = (exx - mx * mx).clamp_min_(0)
    var_y = (eyy - my * my).clamp_min_(0)
    sum_var = var_x + var_y
    mean_d = ux - uy
    var_d = edd - mean_d * mean_d
    held = torch.minimum(var_d.clamp_min(0), 2 * sum_var.detach())  # held fixed where it acts
    b2 = sum_var.add_(c2)
    cs = (b2 - held).div_(b2)
    if luminance:
        # lum = (2 mu_x mu_y + C1) / b1 = (b1 - (mu_x - mu_y)^2) / b1: exactly 1 where mu_x = mu_y,
        # however the compiler groups the sums of b1
        b1 = (ux * ux).add_(uy * uy).add_(c1)
        lum = (b1 - mean_d * mean_d).div_(b1)
        similarity = lum * cs
    else:
        similarity = cs
    if not any(wrt):
        return similarity, None
    # d/d(var) = -similarity / b2 and d/d(cov) = 2 lum / b2; where a clamp acts (through rounding
    # only) the clamped statistic is held fixed: its derivative is taken as 0.
    d_var = (similarity / b2).neg_()
    d_exy = torch.where(held == var_d, (2 * lum if luminance else 2.0) / b2, 0.0)
    # d(lum)/d(u_self) = 2 (u_other - lum u_self) / b1, times cs
    slope = (2 * cs).div_(b1) if luminance else None

    def d_mean(m_self, m_other, d_e, u_self, u_other):
        """d/d(mu_self): var = E[xc^2] - mu^2 and cov = E[xc yc] - mu_x mu_y depend on the means,
        and so does lum."""
        d = (m_self * d_e).mul_(-2).addcmul_(m_other, d_exy, value=-1)
        return d.addcmul_(torch.addcmul(u_other, lum, u_self, value=-1), slope) if luminance else d

    columns = []
    if wrt[0]:
        d_exx = torch.where(var_x > 0, d_var, 0.0)
        columns += [d_mean(mx, my, d_exx, ux, uy), d_exx, d_exy]
    if wrt[1]:
        d_eyy = torch.where(var_y > 0, d_var, 0.0)
        columns += [d_mean(my, mx, d_eyy, uy, ux), d_eyy] + ([] if wrt[0] else [d_exy])
    return similarity, torch.stack(columns, dim=1)


def _input_gradients(
    g: Tensor, x: Tensor, y: Tensor, shift: Tensor, wrt: tuple[bool, bool]
) -> tuple[Tensor | None, Tensor | None]:
    """``d/dx = g_mux + 2 xc g_exx + yc g_exy`` and its mirror for y, from the transposed filterings
    ``g`` ``(N, K, C, H, W)`` (:func:`similarity_terms`). Pointwise, compiled with it."""
    xc, yc = x - shift, y - shift
    grad_x = grad_y = None
    if wrt[0]:  # g = [mux, exx, exy, (muy, eyy)]
        grad_x = torch.addcmul(g[:, 0], xc, g[:, 1], value=2).addcmul_(yc, g[:, 2])
    if wrt[1]:  # g = [muy, eyy, exy] or [mux, exx, exy, muy, eyy]
        first = 3 if wrt[0] else 0
        grad_y = torch.addcmul(g[:, first], yc, g[:, first + 1], value=2).addcmul_(xc, g[:, 2])
    return grad_x, grad_y


class MeanSimilarity(torch.autograd.Function):
    """``(x, y) -> (N, C)``: the mean of each image's and channel's SSIM map (or cs map).

    Each output is one number per image and channel, so the incoming gradient is one factor per image
    and channel, and the transposed filtering (linear) can run before it is known: the forward pass
    builds the whole input-gradient map of each mean, ``(N, C, H, W)`` per image asked for (see
    :func:`similarity_terms`), and the backward only scales it. Autograd keeps that one map per input:
    no statistic, no derivative map and not the images themselves.
    """

    @staticmethod
    def forward(ctx, x, y, window, c1, c2, luminance):
        wrt = (ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        similarity, coefficients, shift = similarity_terms(x, y, window, c1, c2, luminance, wrt)
        if any(wrt):
            n, m, c, h, w = coefficients.shape
            g = filter_full(coefficients.view(n, m * c, h, w), window).view(n, m, c, *x.shape[-2:])
            del coefficients
            maps = _kernel("gradients")(g, x, y, shift, wrt)
            ctx.wrt, ctx.positions = wrt, h * w
            ctx.save_for_backward(*(t for t in maps if t is not None))
        return similarity.mean(dim=(2, 3))

    @staticmethod
    def backward(ctx, grad):
        saved = iter(ctx.saved_tensors)
        # d(mean over the H' x W' positions of each image and channel)/d(map) = grad / (H' W')
        factor = (grad / ctx.positions)[:, :, None, None]
        return (*(next(saved) * factor if needed else None for needed in ctx.wrt), None, None, None, None)


# --------------------------------------------------------------------------------------------
# Optional compilation of the pointwise algebra
# --------------------------------------------------------------------------------------------

_EAGER = {"terms": _pointwise_terms, "gradients": _input_gradients}
_compiled: dict[str, object] = {}  # filled by compile_pointwise(True); empty: eager


def compile_pointwise(enabled: bool = True) -> bool:
    """Fuse SSIM's pointwise algebra with ``torch.compile`` (True) or run it eagerly (False, the default).

    Only the algebra between the filterings is compiled (:func:`_pointwise_terms`, about 40 pointwise
    operations on the valid-size maps, and :func:`_input_gradients`); the convolutions and the spatial
    means stay eager. Values equal the eager ones to a few roundings. Each new combination of dtype,
    device and options costs a compilation (seconds on a CPU, shapes are dynamic), so it pays in
    training loops, not for one-off scores. Returns whether compiled kernels are now in use: False
    where ``torch.compile`` is missing; a kernel that fails to compile on its first call (no C++
    compiler, an unsupported backend) warns once and falls back to the eager algebra for good.
    """
    _compiled.clear()
    if not isinstance(enabled, bool):
        raise ValueError(f"enabled must be True or False; got {enabled!r}")
    if enabled and hasattr(torch, "compile"):
        for name, function in _EAGER.items():
            _compiled[name] = _with_fallback(name, torch.compile(function, dynamic=True))
    return bool(_compiled)


def _with_fallback(name: str, compiled):
    def run(*args):
        try:
            return compiled(*args)
        except Exception as error:  # noqa: BLE001 - any failure of the compiler means: run eagerly
            import warnings

            warnings.warn(f"torch.compile of SSIM's pointwise algebra failed ({type(error).__name__}); "
                          f"using the eager algebra", RuntimeWarning, stacklevel=3)
            _compiled.clear()
            return _EAGER[name](*args)

    return run


def _kernel(name: str):
    """The compiled pointwise function ``name`` if :func:`compile_pointwise` is on, else the eager one."""
    return _compiled.get(name, _EAGER[name])
