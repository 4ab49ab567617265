"""Zero-config discovery: the start-up hook puts our folder on nnUNet_extTrainer in every new interpreter."""
import os
import subprocess
import sys

from nnunet_attenscribble.extension_path import register, trainer_folder

from nnunet_env import nnunet_environment

LOOKUP = ("from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name as f\n"
          "import pickle\n"
          "cls = f('AttenScribbleTrainer_PartialCEDice_CRF')\n"
          "assert pickle.loads(pickle.dumps(cls)) is cls  # picklable: lives in an importable package\n"
          "print(cls.__module__)\n")


def _python(code, env):
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_new_interpreter_finds_trainers_without_exports(tmp_path):
    result = _python(LOOKUP, nnunet_environment(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("nnunet_attenscribble.trainers.ablations")


def test_opt_out_and_manual_export(tmp_path):
    env = nnunet_environment(tmp_path, NNUNET_ATTENSCRIBBLE_NO_AUTOREGISTER="1")
    result = _python(LOOKUP, env)
    assert result.returncode != 0 and "Could not find requested nnunet trainer" in result.stderr
    folder = subprocess.run([os.path.join(os.path.dirname(sys.executable), "attenscribble"), "trainer-path"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert folder == trainer_folder()
    result = _python(LOOKUP, {**env, "nnUNet_extTrainer": folder})
    assert result.returncode == 0, result.stderr[-3000:]


def test_register_appends_once_and_keeps_user_folders():
    environ = {"nnUNet_extTrainer": "/somewhere/else"}
    register(environ)
    register(environ)
    assert environ["nnUNet_extTrainer"].split(os.pathsep) == ["/somewhere/else", trainer_folder()]
    environ = {"NNUNET_ATTENSCRIBBLE_NO_AUTOREGISTER": "yes"}
    register(environ)
    assert "nnUNet_extTrainer" not in environ


def test_scanned_folder_holds_only_reexports():
    names = sorted(p for p in os.listdir(trainer_folder()) if p.endswith(".py"))
    assert names == ["attenscribble_trainer_classes.py"]


def test_package_ships_a_small_catalog_and_the_benchmark_finds_its_experiment_variants(tmp_path):
    """The installed package exports the default, its ablation chain, the paper's objective and the baseline; the
    experiment-only variants RESULTS.md quotes resolve through the benchmark's environment, not without it."""
    import nnunet_attenscribble.trainers as trainers
    assert sorted(trainers.__all__) == ["AttenScribbleTrainer", "AttenScribbleTrainer_PaperObjective",
                                        "AttenScribbleTrainer_PartialCEDice", "AttenScribbleTrainer_PartialCEDice_CRF",
                                        "AttenScribbleTrainer_PlusSimilarity", "nnUNetTrainer_AttenScribbleBudget"]
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
    from experiment_trainers import experiment_trainer_environment
    lookup = LOOKUP.replace("AttenScribbleTrainer_PartialCEDice_CRF", "AttenScribbleTrainer_NoCRFRampUp")
    env = nnunet_environment(tmp_path)
    assert _python(lookup, env).returncode != 0
    result = _python(lookup, {**env, **experiment_trainer_environment(env)})
    assert result.returncode == 0 and result.stdout.strip().endswith("experiment_trainers"), result.stderr[-2000:]
