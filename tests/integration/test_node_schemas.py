"""Every Rewind node is documented where users look: a description, a tooltip on every input,
ids prefixed Rewind, categories under Rewind/."""
import pytest



@pytest.fixture(scope="module")
def schemas(comfy):
    import asyncio

    from rewind.nodes import comfy_entrypoint

    extension = asyncio.run(comfy_entrypoint())
    return [node.define_schema() for node in asyncio.run(extension.get_node_list())]


def test_the_pack_registers_its_nodes_once(schemas):
    ids = [schema.node_id for schema in schemas]
    assert len(ids) == len(set(ids))
    assert {"RewindUnsampler", "RewindResampler", "RewindAYSScheduler", "RewindFlipSigmas", "RewindContextOptions",
            "RewindLatentCoherence", "RewindLoadVideo", "RewindVideoCombine"} <= set(ids)


def test_every_node_is_prefixed_categorised_and_described(schemas):
    for schema in schemas:
        assert schema.node_id.startswith("Rewind"), schema.node_id
        assert schema.category.startswith("Rewind/"), schema.node_id
        assert len(schema.description) > 40, schema.node_id


def test_every_input_has_a_tooltip(schemas):
    missing = [f"{schema.node_id}.{item.id}" for schema in schemas for item in schema.inputs if not item.tooltip]
    assert missing == []
