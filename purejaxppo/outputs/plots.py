"""Figures of a run directory: learning curves with a band over seeds, PBT's hyperparameters,
an evolution strategy's search."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

BAND_RESAMPLES = 200


def curve_with_band(
    returns: np.ndarray, confidence: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per update: the mean over runs [runs, updates] (NaNs skipped) and a percentile-bootstrap
    band of that mean. A bootstrap band never leaves the range of the runs' own values, so it
    stays inside the returns an environment can give, even with 2 seeds (a t-interval does not).
    """
    returns = np.asarray(returns, np.float32)
    with warnings.catch_warnings():  # updates in which no run finished an episode are all NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(returns, axis=0)
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, returns.shape[0], (BAND_RESAMPLES, returns.shape[0]))
        means = np.nanmean(returns[picks], axis=1)  # [resamples, updates]
        tail = 100 * (1 - confidence) / 2
        low, high = np.nanpercentile(means, [tail, 100 - tail], axis=0)
    return mean, low, high


def _figure(width: float = 7.0, height: float = 4.2, rows: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(rows, 1, figsize=(width, height), sharex=True)


def plot_learning_curves(
    steps: np.ndarray,
    returns: np.ndarray,
    groups: np.ndarray,
    path: Path,
    title: str,
    labels: list[str] | None = None,
    diverged_at: np.ndarray | None = None,
) -> None:
    """Mean return and its 95% bootstrap band over the runs of each group against env steps.

    `diverged_at` [runs]: each run's first non-finite update (-1: none). A diverged run is left
    out of its group's mean and band (its returns after divergence come from a NaN policy) and
    drawn alone, dashed, up to the update where it diverged, marked x there.
    """
    diverged_at = np.full(len(returns), -1) if diverged_at is None else np.asarray(diverged_at)
    diverged = diverged_at >= 0
    plt, fig, ax = _figure()
    for group in np.unique(groups):
        kept = (groups == group) & ~diverged
        if not kept.any():
            continue
        mean, low, high = curve_with_band(returns[kept])
        label = labels[group] if labels else None
        (line,) = ax.plot(steps, mean, lw=1.5, label=label)
        ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.25, lw=0)
    if diverged.any():
        _mark_diverged(ax, steps, returns, diverged_at)
    ax.set_xlabel("env steps per run")
    ax.set_ylabel("episode return")
    ax.set_title(title if diverged.sum() < len(returns) else f"{title}\n(every run diverged)")
    ax.grid(alpha=0.3)
    if labels or diverged.any():
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _mark_diverged(ax, steps: np.ndarray, returns: np.ndarray, diverged_at: np.ndarray) -> None:
    runs = np.flatnonzero(diverged_at >= 0)
    label = f"diverged: {len(runs)} of {len(returns)} runs (left out of the mean)"
    for run in runs:
        last = diverged_at[run]
        ax.plot(steps[: last + 1], returns[run, : last + 1], color="tab:red", lw=0.8, ls="--",
                alpha=0.7, label=label)  # fmt: skip
        ax.axvline(steps[last], color="tab:red", lw=0.5, alpha=0.3)
        ax.plot([steps[last]], [np.nanmax(returns[run, : last + 1], initial=0.0)], "x",
                color="tab:red")  # fmt: skip
        label = None


def plot_trajectories(
    trajectories: dict[str, np.ndarray], env_steps: np.ndarray, path: Path, title: str
) -> None:
    """One panel per searched hyperparameter: every member's value [G + 1, P] over env steps."""
    plt, fig, axes = _figure(7.0, 2.4 * len(trajectories), len(trajectories))
    axes = np.atleast_1d(axes)
    for ax, (name, values) in zip(axes, trajectories.items(), strict=True):
        ax.step(env_steps, values, where="post", lw=0.9, alpha=0.7)
        ax.set_ylabel(name)
        if np.all(values > 0) and values.max() / values.min() > 20:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].set_title(title)
    axes[-1].set_xlabel("env steps per member")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_es(
    fitness: np.ndarray,
    members: dict[str, np.ndarray],
    means: dict[str, np.ndarray],
    path: Path,
    title: str,
) -> None:
    """Top: every member's fitness [G, P] per generation, the population's mean and the best so
    far. Below, one panel per searched column: the members' values [G, P] and the search
    distribution's mean [G + 1] (before each generation, and after the last)."""
    generations, population = fitness.shape
    plt, fig, axes = _figure(7.0, 2.4 * (1 + len(members)), 1 + len(members))
    axes = np.atleast_1d(axes)
    x = np.repeat(np.arange(generations), population)
    finite = np.where(np.isfinite(fitness), fitness, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        axes[0].plot(np.arange(generations), np.nanmean(finite, axis=1), lw=1.5, label="mean")
        best = np.fmax.accumulate(np.nanmax(finite, axis=1))
    axes[0].scatter(x, finite.reshape(-1), s=6, alpha=0.4, color="gray")
    axes[0].plot(np.arange(generations), best, lw=1.5, label="best so far")
    axes[0].set_ylabel("fitness")
    axes[0].legend(fontsize=8)
    axes[0].set_title(title)
    for ax, (name, values) in zip(axes[1:], members.items(), strict=True):
        ax.scatter(x, values.reshape(-1), s=6, alpha=0.4, color="gray")
        ax.plot(np.arange(generations + 1), means[name], lw=1.5)
        ax.set_ylabel(name)
        if np.all(values > 0) and values.max() / values.min() > 20:
            ax.set_yscale("log")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("generation")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_profiles(
    profiles: dict[str, np.ndarray],
    bands: dict[str, np.ndarray],
    taus: np.ndarray,
    path: Path,
    title: str,
) -> None:
    """Performance profiles with their 95% bands (rliable's figure)."""
    from rliable import plot_utils

    plt, fig, ax = _figure()
    plot_utils.plot_performance_profiles(
        profiles, taus, performance_profile_cis=bands, ax=ax, xlabel=r"Normalised score ($\tau$)"
    )
    ax.legend(loc="upper right", fontsize="small")
    ax.set_title(title, fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_improvement(
    pairs: dict[str, np.ndarray], intervals: dict[str, np.ndarray], path: Path, separator: str
) -> None:
    """P(X > Y) per pair with its 95% interval (rliable's figure)."""
    from rliable import plot_utils

    plt, fig, ax = _figure(6.0, 1.6 + 0.6 * len(pairs))
    plot_utils.plot_probability_of_improvement(
        pairs,
        intervals,
        pair_separator=separator,
        ax=ax,
        xticks=[0, 0.25, 0.5, 0.75, 1],
        left_ylabel="Group X",
        right_ylabel="Group Y",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
