"""The registry: built-ins through the hooks, runtime plugins, conflicts, broken plugins."""

from __future__ import annotations

import sys

import pytest
import torch

import fpa
from conftest import own_names, plugged_in
from fpa import plugins
from rule_fixtures import StepOnlyDeltaRule, ThirdPartyRules


@pytest.mark.usefixtures("third_party_rules")
def test_built_ins_are_registered_through_the_hooks():
    current = fpa.registry()
    assert {"hebb", "delta", "oja"} <= set(current.components["rules"])
    assert {"lstm", "transformer"} <= set(current.components["painters"])
    assert "identity" in current.components["refiners"]
    assert current.components["rules"]["delta"].origin.distribution == "fpa"
    assert "fpa_register_rules" in current.hooks[current.components["rules"]["delta"].plugin]
    assert fpa.available("rules") == sorted(fpa.available("rules"))


def test_a_registered_plugin_object_appears_and_disappears():
    assert "step-only-delta" not in fpa.available("rules")
    with plugged_in(ThirdPartyRules(), name="test-rules"):
        assert "step-only-delta" in fpa.available("rules")
        assert isinstance(fpa.build_rule("step-only-delta"), StepOnlyDeltaRule)
        component = fpa.registry().components["rules"]["step-only-delta"]
        assert component.plugin == "test-rules"
        assert component.origin.distribution is None
    assert "step-only-delta" not in fpa.available("rules")


@pytest.mark.usefixtures("third_party_rules")
def test_unknown_name_lists_known_names_and_the_closest_match():
    with pytest.raises(fpa.UnknownComponentError) as caught:
        fpa.build_rule("detla")
    message = str(caught.value)
    assert "did you mean 'delta'" in message
    assert f"(known rules: {', '.join(fpa.available('rules'))})" in message
    assert {"delta", "hebb", "oja"} <= set(fpa.available("rules"))
    assert caught.value.closest == "delta"


def test_the_throwaway_plugin_is_there_only_in_its_half_of_the_tests(third_party_rules, request):
    beside = request.node.callspec.params["third_party_rules"] == "beside-a-plugin"
    theirs = [name for name in fpa.available("rules") if name not in own_names("rules")]
    assert any(name.startswith("ella") for name in theirs) == beside
    assert own_names("rules") == [
        "delta",
        "dplr",
        "gated-delta",
        "gated-hebb",
        "hebb",
        "longhorn",
        "momentum-delta",
        "oja",
    ]


def test_unknown_kind_is_refused():
    with pytest.raises(fpa.ConfigError, match="kinds: rules, painters"):
        fpa.available("colours")


def test_two_plugins_claiming_one_name_fail_naming_both():
    class Clash:
        @fpa.hookimpl
        def fpa_register_rules(self, register):
            register("delta", StepOnlyDeltaRule)

    with (
        plugged_in(Clash(), name="clashing-plugin"),
        pytest.raises(fpa.PluginConflictError) as caught,
    ):
        fpa.available("rules")
    assert "clashing-plugin" in str(caught.value)
    assert "'rules'" in str(caught.value)
    assert fpa.available("rules")  # healthy again once the clash is gone


def test_a_plugin_whose_hook_fails_is_reported_and_the_others_still_work():
    class Broken:
        @fpa.hookimpl
        def fpa_register_rules(self, register):
            register("half-done", StepOnlyDeltaRule)
            raise RuntimeError("missing dependency xyz")

    with plugged_in(Broken(), name="broken-plugin"):
        current = fpa.registry()
        assert "half-done" not in current.components["rules"]
        assert "delta" in current.components["rules"]
        (broken,) = [b for b in current.broken if b.plugin == "broken-plugin"]
        assert "missing dependency xyz" in broken.error


def load_with_fake_distribution(tmp_path, monkeypatch, *, name, entry, source):
    """A fresh loader that sees one extra installed distribution with an ``fpa`` entry point."""
    module = f"{name.replace('-', '_')}_module"
    dist = tmp_path / f"{name.replace('-', '_')}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[fpa]\n{entry} = {module}\n")
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    loader = plugins._Loader()
    manager = loader.get()
    (failure,) = [f for f in loader.load_failures if f.plugin == entry]
    assert failure.origin.distribution == name
    assert any(
        impl.plugin_name == "rules" for impl in manager.hook.fpa_register_rules.get_hookimpls()
    )
    return failure


def test_an_entry_point_that_fails_to_import_is_broken_not_fatal(tmp_path, monkeypatch):
    failure = load_with_fake_distribution(
        tmp_path,
        monkeypatch,
        name="fpa-broken-demo",
        entry="broken",
        source="import a_module_that_does_not_exist\n",
    )
    assert "a_module_that_does_not_exist" in failure.error


def test_factories_receive_keyword_options():
    rule = fpa.build_rule("delta", first_step_unit_rate=True)
    assert rule.first_step_unit_rate is True
    painter = fpa.build_painter("lstm", latent_dim=4, steps=3, hidden_size=8, input_size=4)
    assert painter(torch.randn(2, 4)).shape == (2, 3, 8)


def test_an_entry_point_with_an_invalid_hook_is_broken_not_fatal(tmp_path, monkeypatch):
    failure = load_with_fake_distribution(
        tmp_path,
        monkeypatch,
        name="fpa-invalid-demo",
        entry="invalid",
        source="import fpa\n\n@fpa.hookimpl\ndef fpa_register_rules(wrong_name):\n    pass\n",
    )
    assert "wrong_name" in failure.error


def test_an_entry_point_that_calls_sys_exit_on_import_is_broken_not_fatal(tmp_path, monkeypatch):
    failure = load_with_fake_distribution(
        tmp_path,
        monkeypatch,
        name="fpa-exiting-demo",
        entry="exiting",
        source="import sys\n\nsys.exit(3)\n",
    )
    assert "SystemExit" in failure.error and "3" in failure.error


def test_fpa_plugins_lists_a_plugin_that_exits_on_import_as_broken(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from fpa.cli import app

    load_with_fake_distribution(
        tmp_path, monkeypatch, name="fpa-exiting-cli", entry="exiting", source="raise SystemExit\n"
    )
    monkeypatch.delitem(sys.modules, "exiting_module", raising=False)
    monkeypatch.setattr(plugins, "_LOADER", plugins._Loader())
    result = CliRunner().invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    import json

    (broken,) = [b for b in json.loads(result.stdout)["broken"] if b["plugin"] == "exiting"]
    assert broken["distribution"] == "fpa-exiting-cli" and "SystemExit" in broken["error"]


def test_ctrl_c_while_a_plugin_imports_still_interrupts(tmp_path, monkeypatch):
    with pytest.raises(KeyboardInterrupt):
        load_with_fake_distribution(
            tmp_path,
            monkeypatch,
            name="fpa-interrupted-demo",
            entry="interrupted",
            source="raise KeyboardInterrupt\n",
        )


def test_a_hook_that_calls_sys_exit_is_reported_as_broken():
    class Exiting:
        @fpa.hookimpl
        def fpa_register_rules(self, register):
            sys.exit("no licence")

    with plugged_in(Exiting(), name="exiting-hook"):
        current = fpa.registry()
        (broken,) = [b for b in current.broken if b.plugin == "exiting-hook"]
        assert "no licence" in broken.error
        assert "delta" in current.components["rules"]
