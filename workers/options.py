"""Command-line options made from a config's fields, so a default is written once: in the config.

>>> from botwerk.workers.charrnn.config import CharRNNConfig
>>> @click.command()
... @config_options(CharRNNConfig, "epochs", "hidden", "seq_len")
... def train_charrnn(**sizes: Any) -> None:
...     config = CharRNNConfig(**sizes)
>>> [(option.opts, option.default) for option in train_charrnn.params]
[(['--epochs'], 20), (['--hidden'], 512), (['--seq-len'], 128)]

Each field becomes ``--field-name`` with the field's type (a ``Literal`` is a choice, a bool a
``--name/--no-name`` switch), its default (shown in ``--help``) and its
``msgspec.Meta(description=...)`` as the help text. ``flags`` renames a switch
(``{"sg": "--sg/--cbow"}``). With ``defaults=False`` the option defaults to ``None`` and the
help names the config's default instead: for a command that fills one of two configs from the
same options (``train chat`` and ``train chat --rl``), only what was given is passed on.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

import click
import msgspec

F = TypeVar("F", bound=Callable[..., Any])


def config_options(
    config: type[msgspec.Struct], *names: str, defaults: bool = True,
    flags: Mapping[str, str] | None = None,
) -> Callable[[F], F]:  # fmt: skip
    """A decorator adding one click option per field ``names`` of ``config``, in that order."""
    fields = {f.name: f for f in msgspec.structs.fields(config)}
    hints = typing.get_type_hints(config, include_extras=True)
    unknown = [name for name in names if name not in fields]
    if unknown:
        raise ValueError(f"{config.__name__} has no fields {unknown}")

    def decorate(command: F) -> F:
        for name in reversed(names):  # click lists options in the order they are applied
            flag = (flags or {}).get(name)
            command = _option(name, hints[name], fields[name].default, defaults, flag)(command)
        return command

    return decorate


def _option(
    name: str, hint: Any, default: Any, defaults: bool, flag: str | None
) -> Callable[[F], F]:
    kind, description = _unwrap(hint)
    declared = flag or "--" + name.replace("_", "-")
    settings: dict[str, Any] = {"help": description}
    if kind is bool:
        declared = flag or f"{declared}/--no-{declared[2:]}"
        settings["default"] = default if defaults else None
    elif typing.get_origin(kind) is Literal:
        settings["type"] = click.Choice([str(v) for v in typing.get_args(kind)])
        settings["default"] = default if defaults else None
    else:
        settings["type"] = kind
        settings["default"] = default if defaults else None
    if defaults:
        settings["show_default"] = True
    else:
        settings["help"] = f"{description}  [default: {default}]".strip()
    return click.option(declared, name, **settings)


def _unwrap(hint: Any) -> tuple[Any, str]:
    """``Annotated[T, Meta(description=...)]`` -> (T, description); a plain ``T`` -> (T, "")."""
    if typing.get_origin(hint) is not typing.Annotated:
        return hint, ""
    kind, *extras = typing.get_args(hint)
    described = [m.description for m in extras if isinstance(m, msgspec.Meta) and m.description]
    return kind, described[0] if described else ""


def default_of(config: type[msgspec.Struct], name: str) -> Any:
    """The default of field ``name`` of ``config``, for help text that names it."""
    for field in msgspec.structs.fields(config):
        if field.name == name:
            return field.default
    raise ValueError(f"{config.__name__} has no field {name!r}")
