"""Command line: parse the command, check everything, dispatch to the library, print a summary.

Exit status: 0 done; 2 a bad flag, value or path (the message names the fix, nothing is
written); 3 every run diverged; 130 / 143 stopped by Ctrl-C / SIGTERM after saving a
checkpoint (`purejaxppo resume RUN_DIR` continues); 1 anything unexpected.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
from collections.abc import Callable
from typing import Any

import tyro

from purejaxppo.base import logs
from purejaxppo.base.errors import ConfigError
from purejaxppo.cli.options import COMMANDS, RunOptions, SweepCommand
from purejaxppo.envs.ids import canonical_env_id

USAGE = """usage: purejaxppo {train,sweep,pbt,es,eval,envs,resume,bench,report} [--help] [OPTIONS]

  train    train many seeds of one config in one compiled call; writes a run directory
  sweep    train a grid or random sample of hyperparameters, all in one compiled call
  pbt      population-based training: a population that copies and perturbs its best members
  es       evolution strategy over hyperparameters, schedules or a learned drift, one compile
  eval     evaluate the trained policies of a run directory (optionally write a GIF)
  envs     list the environments, their spaces and presets
  resume   continue an interrupted train, sweep, pbt or es from its last checkpoint
  bench    training throughput against the rollout's own speed, for 1 .. N seeds
  report   aggregate run directories over environments with rliable (IQM, profiles, P(X > Y))

`purejaxppo COMMAND --help` lists every option (`--env` is short for `--env-id`); `--debug`
prints the libraries' own log output (otherwise kept in RUN_DIR/debug.log)."""


def _expand_aliases(args: list[str]) -> list[str]:
    """`--env X` is short for `--env-id X` (the flag people type first)."""
    return [
        "--env-id" if a == "--env" else ("--env-id=" + a[6:] if a.startswith("--env=") else a)
        for a in args
    ]


def _refuse_repeated_flags(args: list[str]) -> None:
    """A flag given twice is refused: the parser would keep the last silently (`--space a=1
    --space b=2` would search b alone)."""
    flags = [a.split("=", 1)[0] for a in args if a.startswith("--")]
    repeated = sorted({flag for flag in flags if flags.count(flag) > 1})
    if repeated:
        raise ConfigError(
            f"{repeated[0]} is given {flags.count(repeated[0])} times; only the last would count. "
            f"Fix: give it once, with every value after it (e.g. --space a=1,2 b=3:4)."
        )


def parse(name: str, args: list[str]):
    """The command object for `purejaxppo NAME ARGS`; a preset gives the defaults that the
    other flags override."""
    _refuse_repeated_flags(args)
    command_type = COMMANDS[name]
    default = None
    if issubclass(command_type, RunOptions):

        @dataclasses.dataclass(frozen=True)
        class PresetOnly:
            preset: str | None = None

        chosen, _ = tyro.cli(PresetOnly, args=args, return_unknown_args=True, add_help=False)
        if chosen.preset is not None:
            from purejaxppo.core.presets import preset

            fields = {"config": preset(chosen.preset), "preset": chosen.preset}
            if command_type is SweepCommand:
                fields["space"] = ()
            default = command_type(**fields)
    command = tyro.cli(command_type, args=args, prog=f"purejaxppo {name}", default=default)
    if default is not None and not command.preset_for_another_env:
        tuned = canonical_env_id(default.config.env_id)
        chosen_env = canonical_env_id(command.config.env_id)
        if chosen_env != tuned:
            raise ConfigError(
                f"--env-id={chosen_env!r}: --preset {command.preset!r} was tuned for {tuned}. "
                f"Fix: drop --env-id, use --preset {chosen_env} if there is one, or add "
                "--preset-for-another-env to train it with these settings anyway."
            )
    return command


def runner(name: str) -> Callable[[Any], int]:
    """The function that runs command `name` (imported on demand: it starts JAX)."""
    from purejaxppo.cli import commands, inspection

    return {
        "train": commands.run_train, "sweep": commands.run_sweep, "pbt": commands.run_pbt,
        "es": commands.run_es, "resume": commands.run_resume, "eval": inspection.run_eval,
        "envs": inspection.run_envs, "bench": inspection.run_bench,
        "report": inspection.run_report,
    }[name]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    from purejaxppo.engine.devices import use_cpu_cores

    # A closed pipe (`purejaxppo train --help | head`) ends output quietly.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    use_cpu_cores()  # before anything starts JAX: one CPU device per core (no-op elsewhere)
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    logs.divert(debug)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    name, rest = args[0], _expand_aliases(args[1:])
    if name not in COMMANDS:
        print(f"purejaxppo: error: unknown command {name!r}.\n\n{USAGE}", file=sys.stderr)
        return 2
    try:
        return runner(name)(parse(name, rest))
    except (ConfigError, ImportError) as error:
        print(f"purejaxppo: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        if debug:
            raise
        where = logs.record_failure(error)
        print(
            f"purejaxppo: unexpected error: {type(error).__name__}: {error}\n(the traceback "
            f"is in {where}; `purejaxppo --debug {name} ...` prints it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
