"""Training across a two-node Ray cluster (ray.cluster_utils.Cluster, one CPU per node)."""

import pytest
import ray
from ray.cluster_utils import Cluster

from agents.config import build_config
from agents.presets import preset_for


@pytest.fixture(scope="module")
def two_nodes():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, include_dashboard=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_env_runners_land_on_both_nodes_and_sample(two_nodes):
    config = build_config("CartPole-v1", preset_for("CartPole-v1"), num_env_runners=2, seed=0)
    config.training(num_steps_sampled_before_learning_starts=100)
    algo = config.build_algo()
    try:
        nodes = algo.env_runner_group.foreach_env_runner(
            lambda runner: ray.get_runtime_context().get_node_id(), local_env_runner=False
        )
        assert len(nodes) == 2
        assert len(set(nodes)) == 2, "both env runners were placed on the same node"
        result = algo.train()
        assert result["env_runners"]["num_env_steps_sampled_lifetime"] > 0
    finally:
        algo.stop()
