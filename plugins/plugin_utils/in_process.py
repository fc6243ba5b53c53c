"""The base of this collection's action plugins for its Kubernetes modules: on a local connection
(the performer role always runs against localhost) the module's work runs inside the Ansible worker
instead of in a new Python process, which would import Ansible's module support from the module's
zip (compiled from source on every call) and pay its packaging and argument serialisation; with
arguments validated by the module's own argument spec and the same result. On any other connection
the module runs where the task says, as usual."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase


class InProcessModuleAction(ActionBase):
    """Set `argument_spec` (and its `argument_constraints`: mutually_exclusive, required_one_of…, as
    AnsibleModule takes them) and `work` (validated arguments, check mode -> the task's result).
    `batch_sized` names the options whose values can be batch-sized lists or dicts of dicts (declared
    without suboptions): the validator deep-copies what it validates, which for a 100-Performer batch
    was a third of the run's CPU, so a value of the declared container type whose items are all dicts
    is validated as an empty container and handed to `work` as it is."""

    argument_spec: ClassVar[dict[str, Any]]
    argument_constraints: ClassVar[dict[str, Any]] = {}
    batch_sized: ClassVar[tuple[str, ...]] = ()
    work: ClassVar[Callable[[dict[str, Any], bool], dict[str, Any]]]
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        if self._connection.transport.rsplit(".", 1)[-1] != "local":
            result.update(self._execute_module(
                module_name=self._task.resolved_action, module_args=self._task.args, task_vars=task_vars,
            ))  # fmt: skip
            return result
        args = dict(self._task.args)
        as_is = {name: args[name] for name in self.batch_sized if _container_of_dicts(args.get(name))}
        validator = ArgumentSpecValidator(self.argument_spec, **self.argument_constraints)
        validation = validator.validate({**args, **{name: type(value)() for name, value in as_is.items()}})
        if validation.error_messages:
            return {**result, "failed": True, "msg": "; ".join(validation.error_messages)}
        try:
            params = {**validation.validated_parameters, **as_is}
            result.update(type(self).work(params, bool(self._task.check_mode)))
        except Exception as error:  # what the module process would report as its failure
            return {**result, "failed": True, "msg": f"{type(error).__name__}: {error}"}
        return result


def _container_of_dicts(value: Any) -> bool:
    """A list of dicts, or a dict (of anything: the option is a dict without suboptions)."""
    if isinstance(value, list):
        return all(isinstance(item, dict) for item in value)
    return isinstance(value, dict)
