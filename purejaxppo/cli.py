"""Command line: parse the command, check everything, dispatch to the library, print a summary.

Exit status: 0 done; 2 a bad flag, value or path (the message names the fix, nothing is
written); 3 every run diverged; 130 / 143 stopped by Ctrl-C / SIGTERM after saving a
checkpoint (`purejaxppo resume RUN_DIR` continues); 1 anything unexpected.
"""

from __future__ import annotations

import dataclasses
import signal
import sys

import tyro

from purejaxppo.errors import ConfigError
from purejaxppo.options import COMMANDS, RunOptions, SweepCommand

USAGE = """usage: purejaxppo {train,sweep,pbt,es,eval,envs,resume,bench} [--help] [OPTIONS]

  train    train many seeds of one config in one compiled call; writes a run directory
  sweep    train a grid or random sample of hyperparameters, all in one compiled call
  pbt      population-based training: a population that copies and perturbs its best members
  es       evolution strategy over hyperparameters, schedules or a learned drift, one compile
  eval     evaluate the trained policies of a run directory (optionally write a GIF)
  envs     list the environments, their spaces and presets
  resume   continue an interrupted train, sweep, pbt or es from its last checkpoint
  bench    training throughput against the rollout's own speed, for 1 .. N seeds

`purejaxppo COMMAND --help` lists every option (`--env` is short for `--env-id`)."""


def _expand_aliases(args: list[str]) -> list[str]:
    """`--env X` is short for `--env-id X` (the flag people type first)."""
    return [
        "--env-id" if a == "--env" else ("--env-id=" + a[6:] if a.startswith("--env=") else a)
        for a in args
    ]


def parse(name: str, args: list[str]):
    """The command object for `purejaxppo NAME ARGS`; a preset gives the defaults that the
    other flags override."""
    command_type = COMMANDS[name]
    default = None
    if issubclass(command_type, RunOptions):

        @dataclasses.dataclass(frozen=True)
        class PresetOnly:
            preset: str | None = None

        chosen, _ = tyro.cli(PresetOnly, args=args, return_unknown_args=True, add_help=False)
        if chosen.preset is not None:
            from purejaxppo.presets import preset

            fields = {"config": preset(chosen.preset), "preset": chosen.preset}
            if command_type is SweepCommand:
                fields["space"] = ()
            default = command_type(**fields)
    return tyro.cli(command_type, args=args, prog=f"purejaxppo {name}", default=default)


def main(argv: list[str] | None = None) -> int:
    from purejaxppo.devices import use_cpu_cores

    # A closed pipe (`purejaxppo train --help | head`) ends output quietly.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    use_cpu_cores()  # before anything starts JAX: one CPU device per core (no-op elsewhere)
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    name, rest = args[0], _expand_aliases(args[1:])
    if name not in COMMANDS:
        print(f"purejaxppo: error: unknown command {name!r}.\n\n{USAGE}", file=sys.stderr)
        return 2
    # Importing these imports the library, which starts JAX.
    from purejaxppo import commands, inspection

    module = inspection if name in ("eval", "envs", "bench") else commands
    try:
        return getattr(module, f"run_{name}")(parse(name, rest))
    except (ConfigError, ImportError) as error:
        print(f"purejaxppo: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
