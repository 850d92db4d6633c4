"""Every model folder an example workflow names is one the server knows (else the frontend's Missing
Models dialog shows "Invalid directory specified")."""
import json

from rewind.testbed.workflow_files import PEER_FOLDERS, WORKFLOWS, models_of


def test_every_model_directory_is_a_folder_the_server_knows(comfy):
    import folder_paths

    known = set(folder_paths.folder_names_and_paths) | set(PEER_FOLDERS)
    for path in WORKFLOWS:
        for node, model in models_of(json.loads(path.read_text())):
            assert model["directory"] in known, f"{path.name} node {node['id']}: unknown model folder {model['directory']!r}"
