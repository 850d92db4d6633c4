"""The API queue client: UI→API conversion and edits (unit), and real runs against the
headless test server (server tier)."""
from __future__ import annotations

import io

import pytest

from rewind.rewind_queue import workflow as wf
from rewind.rewind_queue.cli import ProgressBar
from rewind.rewind_queue.errors import format_prompt_rejection
from rewind.testbed.workflow_files import ui_node


# A slice of /object_info, enough for the conversion rules (the order lives in input_order).
OBJECT_INFO = {
    "EmptyLatentImage": {
        "input": {"required": {"width": ["INT", {}], "height": ["INT", {}], "batch_size": ["INT", {}]}},
        "input_order": {"required": ["width", "height", "batch_size"]},
    },
    "KSampler": {
        "input": {"required": {
            "model": ["MODEL", {}], "seed": ["INT", {"control_after_generate": True}], "steps": ["INT", {}],
            "cfg": ["FLOAT", {}], "sampler_name": [["euler", "heun"], {}], "scheduler": [["normal"], {}],
            "positive": ["CONDITIONING", {}], "negative": ["CONDITIONING", {}], "latent_image": ["LATENT", {}],
            "denoise": ["FLOAT", {}],
        }},
        "input_order": {"required": ["model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive",
                                     "negative", "latent_image", "denoise"]},
    },
    "LoadImage": {
        "input": {"required": {"image": [["a.png"], {"image_upload": True}]}, "optional": {"note": ["STRING", {}]}},
        "input_order": {"required": ["image"], "optional": ["note"]},
    },
    "Blur": {
        "input": {"required": {"image": ["IMAGE", {}], "radius": ["INT", {"forceInput": True}], "sigma": ["FLOAT", {}]}},
        "input_order": {"required": ["image", "radius", "sigma"]},
    },
}


def test_widgets_values_fill_widget_inputs_in_order_skipping_seed_control():
    node = ui_node(3, "KSampler", [42, "randomize", 20, 7.5, "heun", "normal", 0.8])
    assert wf.widget_inputs(node, OBJECT_INFO["KSampler"]) == {
        "seed": 42, "steps": 20, "cfg": 7.5, "sampler_name": "heun", "scheduler": "normal", "denoise": 0.8,
    }


def test_upload_button_value_is_skipped_and_force_input_is_not_a_widget():
    assert wf.widget_inputs(ui_node(1, "LoadImage", ["clip.png", "image", "hello"]), OBJECT_INFO["LoadImage"]) == {
        "image": "clip.png", "note": "hello",
    }
    assert wf.widget_inputs(ui_node(2, "Blur", [0.5]), OBJECT_INFO["Blur"]) == {"sigma": 0.5}


def test_dict_widgets_values_map_by_name():
    node = ui_node(1, "EmptyLatentImage")
    node["widgets_values"] = {"width": 64, "height": 32, "batch_size": 2, "videopreview": {}}
    assert wf.widget_inputs(node, OBJECT_INFO["EmptyLatentImage"]) == {"width": 64, "height": 32, "batch_size": 2}


def test_ui_to_api_follows_links_through_reroutes_and_bypassed_nodes():
    ui = {
        "nodes": [
            ui_node(1, "EmptyLatentImage", [64, 32, 1], outputs=[("LATENT", "LATENT")]),
            ui_node(2, "Reroute", inputs=[("", "*", 10)], outputs=[("", "LATENT")]),
            ui_node(3, "KSampler", [7, "fixed", 4, 1.0, "euler", "normal", 1.0],
                    inputs=[("latent_image", "LATENT", 11), ("seed", "INT", 12)], title="Main sampler"),
            ui_node(4, "Note", ["a note"]),
            ui_node(5, "PrimitiveNode", [1234, "fixed"], outputs=[("INT", "INT")]),
            ui_node(6, "LoadImage", ["a.png", "image"], outputs=[("IMAGE", "IMAGE")]),
            ui_node(7, "Blur", [0.5], inputs=[("image", "IMAGE", 13), ("radius", "INT", None)], mode=4,
                    outputs=[("IMAGE", "IMAGE")]),
            ui_node(8, "Blur", [2.0], inputs=[("image", "IMAGE", 14), ("radius", "INT", None)]),
            ui_node(9, "Blur", [1.0], inputs=[("image", "IMAGE", 15)], mode=2),
        ],
        "links": [
            [10, 1, 0, 2, 0, "LATENT"], [11, 2, 0, 3, 8, "LATENT"], [12, 5, 0, 3, 1, "INT"],
            [13, 6, 0, 7, 0, "IMAGE"], [14, 7, 0, 8, 0, "IMAGE"], [15, 6, 0, 9, 0, "IMAGE"],
        ],
    }
    prompt = wf.ui_to_api(ui, OBJECT_INFO)
    assert set(prompt) == {"1", "3", "6", "8"}  # no Reroute, Note, Primitive, bypassed or muted node
    assert prompt["3"]["inputs"]["latent_image"] == ["1", 0]  # through the reroute
    assert prompt["3"]["inputs"]["seed"] == 1234  # the primitive's value, not a link
    assert prompt["3"]["inputs"]["steps"] == 4
    assert prompt["3"]["_meta"]["title"] == "Main sampler"
    assert prompt["8"]["inputs"]["image"] == ["6", 0]  # the bypassed blur passes its image through
    assert prompt["8"]["inputs"]["sigma"] == 2.0


def test_ui_to_api_names_the_node_whose_type_the_server_lacks():
    ui = {"nodes": [ui_node(5, "VHS_VideoCombine", title="Save")], "links": []}
    with pytest.raises(wf.WorkflowError, match=r"node 5 \(VHS_VideoCombine, titled 'Save'\).*install"):
        wf.ui_to_api(ui, OBJECT_INFO)


def test_links_in_the_object_format_of_workflow_schema_1():
    ui = {
        "nodes": [ui_node(1, "LoadImage", ["a.png"]), ui_node(2, "Blur", [1.5], inputs=[("image", "IMAGE", 3)])],
        "links": [{"id": 3, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "IMAGE"}],
    }
    assert wf.ui_to_api(ui, OBJECT_INFO)["2"]["inputs"]["image"] == ["1", 0]


def test_api_prompts_are_checked_and_unwrapped_from_a_prompt_payload():
    prompt = {"3": {"class_type": "SaveImage"}}
    assert wf.checked_api_prompt({"prompt": prompt, "client_id": "x"}) == {"3": {"class_type": "SaveImage", "inputs": {}}}
    with pytest.raises(wf.WorkflowError, match=r"entries \['last_node_id'\] have no class_type"):
        wf.checked_api_prompt({"last_node_id": 3})


def api_prompt():
    return {
        "1": {"class_type": "CLIPTextEncode", "inputs": {"text": "source", "clip": ["9", 1]}, "_meta": {"title": "Source"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "old style", "clip": ["9", 1]}, "_meta": {"title": "Style"}},
        "3": {"class_type": "ControlNetApply", "inputs": {"conditioning": ["2", 0], "strength": 0.3}},
        "4": {"class_type": "RewindUnsampler", "inputs": {"positive": ["1", 0], "negative": ["1", 0]}},
        "5": {"class_type": "RewindResampler", "inputs": {"positive": ["3", 0], "negative": ["1", 0]}},
        "6": {"class_type": "RewindLoadVideo", "inputs": {"video": "old.mp4"}, "_meta": {"title": "Load"}},
    }


def test_prompt_text_goes_to_the_encoder_feeding_the_resampler_positive():
    prompt = api_prompt()
    assert wf.set_positive_prompt(prompt, "watercolor") == ["2"]
    assert prompt["2"]["inputs"]["text"] == "watercolor"
    assert prompt["1"]["inputs"]["text"] == "source"


def test_a_node_titled_positive_wins():
    prompt = api_prompt()
    prompt["1"]["_meta"]["title"] = "Positive prompt"
    assert wf.set_positive_prompt(prompt, "ink") == ["1"]


def test_video_and_set_address_nodes_by_id_or_title():
    prompt = api_prompt()
    assert wf.set_video(prompt, "clip.mp4") == "6"
    assert prompt["6"]["inputs"]["video"] == "clip.mp4"
    node, name, raw = wf.parse_assignment("Load.frame_load_cap=8")
    wf.set_input(prompt, node, name, wf.parse_value(raw))
    assert prompt["6"]["inputs"]["frame_load_cap"] == 8
    with pytest.raises(wf.WorkflowError, match="no node with id or title 'Nope'"):
        wf.set_input(prompt, "Nope", "x", 1)
    with pytest.raises(wf.WorkflowError, match="NODE.INPUT=VALUE"):
        wf.parse_assignment("seed=3")


def test_missing_model_error_names_file_folder_and_source():
    body = {
        "error": {"message": "Prompt outputs failed validation"},
        "node_errors": {"4": {"class_type": "UNETLoader", "errors": [{
            "type": "value_not_in_list", "message": "Value not in list",
            "extra_info": {"input_name": "unet_name", "received_value": "wan2.1_t2v_1.3B_fp16.safetensors"},
        }]}},
    }
    text = format_prompt_rejection(body)
    assert "node 4 (UNETLoader), input 'unet_name'" in text
    assert "'wan2.1_t2v_1.3B_fp16.safetensors'" in text and "models/diffusion_models/" in text
    assert "huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged" in text


def test_a_node_level_validation_failure_is_reported_once_not_per_input():
    reason = "RewindLoadVideo: video file not found in the input folder: 'input.mp4'. Upload it or pick another."
    errors = [
        {"type": "custom_validation_failed", "message": "Custom validation failed for node",
         "details": f"{name} - {reason}", "extra_info": {"input_name": name}}
        for name in ("video", "force_rate", "custom_width")
    ]
    text = format_prompt_rejection({"error": {"message": "Prompt outputs failed validation"},
                                    "node_errors": {"5": {"class_type": "RewindLoadVideo", "errors": errors}}})
    assert text.splitlines()[1:] == [f"  node 5 (RewindLoadVideo): {reason}"]


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_redraws_one_line_on_a_terminal_and_logs_lines_otherwise():
    prompt = {"3": {"class_type": "KSampler", "inputs": {}, "_meta": {"title": "Resample"}}}
    terminal, log = FakeTerminal(), io.StringIO()
    for stream in (terminal, log):
        bar = ProgressBar(prompt, stream, width=4)
        bar.node_started("3")
        bar.step(2, 4)
        bar.step(4, 4)
        bar.finish()
    assert terminal.getvalue().split("\r\x1b[2K")[1:] == ["node 3 (Resample)", "[##..] node 3 (Resample) 2/4", "[####] node 3 (Resample) 4/4\n"]
    assert log.getvalue().splitlines() == ["node 3 (Resample)", "[####] node 3 (Resample) 4/4"]
