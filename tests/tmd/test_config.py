"""TMDConfig: code defaults, and errors that name the offending key and allowed values."""

import pytest

from rllib_tmd import TMD, TMDConfig


def test_defaults_are_the_released_code_values():
    c = TMDConfig()
    assert (c.lr, c.gamma, c.train_batch_size_per_learner) == (3e-4, 0.99, 512)
    assert (c.zeta, c.action_invariance_weight, c.linex_threshold, c.diag_backup) == (
        0.05,
        1.0,
        3.0,
        0.5,
    )
    assert (c.latent_dim, c.ensemble_size, c.quasimetric_components) == (512, 2, 8)
    assert c.mrn_variant == "max+l2" and c.stopgrad_psi_backup is False
    assert c.value_geom_sample and c.actor_p_trajgoal == 1.0


def test_unknown_training_key_is_named_with_a_suggestion():
    with pytest.raises(ValueError, match=r"'zetta'.*did you mean 'zeta'"):
        TMDConfig().training(zetta=0.1)


def test_unknown_key_in_a_config_dict_is_named():
    with pytest.raises(ValueError, match=r"'linex_treshold'"):
        TMDConfig().update_from_dict({"linex_treshold": 5.0})


def test_known_keys_in_a_config_dict_are_accepted():
    c = TMDConfig().update_from_dict({"zeta": 0.1, "lr": 1e-3, "input_": "somewhere"})
    assert c.zeta == 0.1 and c.lr == 1e-3


@pytest.mark.parametrize(
    "key,value,pattern",
    [
        ("quasimetric", "l1", r"'quasimetric'.*\['mrn', 'iqe'\]"),
        ("mrn_variant", "min", r"'mrn_variant'.*'max\+l2', 'max'"),
        ("divergence", "kl", r"'divergence'.*'linex'"),
        ("diag_backup", 1.5, r"'diag_backup'.*\[0.0, 1.0\]"),
        ("gamma", 1.0, r"'gamma'.*\(0.0, 1.0\)"),
        ("updates_per_iteration", 0, r"'updates_per_iteration'"),
        ("eval_task_ids", (0, 6), r"'eval_task_ids'.*1..5"),
        ("matmul_precision", "tf16", r"'matmul_precision'.*'auto', 'high', 'highest'"),
        ("cuda_graph", "yes", r"'cuda_graph'.*True, False, 'auto'"),
        ("parallel_update_branches", 2, r"'parallel_update_branches'.*True, False, 'auto'"),
        ("torch_compile_mode", "reduce-overhead", r"'torch_compile_mode'.*'default'"),
        ("eval_num_workers", -1, r"'eval_num_workers'.*'auto' or an int >= 0"),
        ("eval_num_workers", 2.5, r"'eval_num_workers'"),
        ("eval_num_envs", 0, r"'eval_num_envs'.*'auto' or an int >= 1"),
        ("eval_num_envs", True, r"'eval_num_envs'"),
        ("eval_seed", -3, r"'eval_seed'.*'auto' or an int >= 0"),
        ("eval_seed", "fixed", r"'eval_seed'"),
        ("stopgrad_psi_backup", "yes", r"'stopgrad_psi_backup'.*True or False"),
        ("stopgrad_backup_target", 0, r"'stopgrad_backup_target'.*True or False"),
        ("layer_norm", None, r"'layer_norm'.*True or False"),
    ],
)
def test_bad_values_name_the_key_and_the_allowed_values(key, value, pattern):
    config = TMDConfig().offline_data(input_="unused").training(**{key: value})
    with pytest.raises(ValueError, match=pattern):
        config.validate()


def test_goal_probabilities_must_sum_to_one():
    config = TMDConfig().offline_data(input_="unused").training(actor_p_trajgoal=0.5)
    with pytest.raises(ValueError, match=r"'actor_p_curgoal'.*sum to 1"):
        config.validate()


def test_latent_must_split_into_components():
    config = TMDConfig().offline_data(input_="x").training(latent_dim=100)
    with pytest.raises(ValueError, match="divisible"):
        config.validate()


def test_missing_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match=r"offline_data\(input_="):
        TMDConfig().validate()


def test_a_trial_reserves_a_cpu_per_evaluation_worker(tiny_pointmaze_root):
    dataset = tiny_pointmaze_root / "datasets" / "pointmaze-medium-navigate-v0"
    config = {"input_": str(dataset), "evaluation_interval": 5}
    default = TMD.default_resource_request(config)  # "auto" workers: nothing reserved
    three = TMD.default_resource_request({**config, "eval_num_workers": 3})
    assert three.bundles[0]["CPU"] == default.bundles[0]["CPU"] + 3
    assert three.bundles[1:] == default.bundles[1:]
    no_evaluation = TMD.default_resource_request(
        {**config, "eval_num_workers": 3, "evaluation_interval": None}
    )
    assert no_evaluation.bundles == default.bundles
