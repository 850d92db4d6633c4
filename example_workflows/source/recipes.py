"""The example workflows (recipes): the whole unsampling style transfer, once per model.

Each recipe builds its model (and, where it has one, a weak ControlNet or a second expert) and hands it
to ``style_transfer``, the one shared chain: video → VAE Encode → AYS (16 steps) → exact (BDIA) unsample
(cfg 1) → zero-noise resample (cfg > 1, coherence) → VAE Decode → Video Combine.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...presets import LOAD_PRESETS
from ...samplers.experts import T2V_BOUNDARY
from .graph import Graph, Model, Node, Output

HF = "https://huggingface.co"
STEPS = 16
INPUT_VIDEO = "rewind_sample.mp4"  # the sample clip the pack puts in the input folder (comfy_glue/folders.py)
NEGATIVE = "blurry, low quality, jpeg artifacts, watermark, text, deformed"

SD15 = Model("v1-5-pruned-emaonly-fp16.safetensors", "checkpoints",
             f"{HF}/Comfy-Org/stable-diffusion-v1-5-archive/resolve/main/v1-5-pruned-emaonly-fp16.safetensors",
             "Hugging Face: Comfy-Org/stable-diffusion-v1-5-archive (or any SD1.5 checkpoint from Civitai)")
SD15_CANNY = Model("control_v11p_sd15_canny_fp16.safetensors", "controlnet",
                   f"{HF}/comfyanonymous/ControlNet-v1-1_fp16_safetensors/resolve/main/control_v11p_sd15_canny_fp16.safetensors",
                   "Hugging Face: comfyanonymous/ControlNet-v1-1_fp16_safetensors")
SDXL = Model("sd_xl_base_1.0.safetensors", "checkpoints",
             f"{HF}/stabilityai/stable-diffusion-xl-base-1.0/resolve/main/sd_xl_base_1.0.safetensors",
             "Hugging Face: stabilityai/stable-diffusion-xl-base-1.0 (or any SDXL checkpoint from Civitai)")
SDXL_CANNY = Model("controlnet-canny-sdxl-1.0.safetensors", "controlnet",
                   f"{HF}/diffusers/controlnet-canny-sdxl-1.0/resolve/main/diffusion_pytorch_model.fp16.safetensors",
                   "Hugging Face: diffusers/controlnet-canny-sdxl-1.0 (file diffusion_pytorch_model.fp16.safetensors, "
                   "saved as controlnet-canny-sdxl-1.0.safetensors)")
ANIMATEDIFF = Model("mm_sd15_v3.safetensors", "animatediff_models",
                    f"{HF}/conrevo/AnimateDiff-A1111/resolve/main/motion_module/mm_sd15_v3.safetensors",
                    "Hugging Face: conrevo/AnimateDiff-A1111 (the safetensors release of guoyww's v3_sd15_mm.ckpt)")
HOTSHOT = Model("hsxl_temporal_layers.f16.safetensors", "animatediff_models",
                f"{HF}/hotshotco/Hotshot-XL/resolve/main/hsxl_temporal_layers.f16.safetensors",
                "Hugging Face: hotshotco/Hotshot-XL")
WAN_REPACK = f"{HF}/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files"
WAN_PAGE = "Hugging Face: Comfy-Org/Wan_2.1_ComfyUI_repackaged"
WAN_UNET = Model("wan2.1_t2v_1.3B_fp16.safetensors", "diffusion_models",
                 f"{WAN_REPACK}/diffusion_models/wan2.1_t2v_1.3B_fp16.safetensors", WAN_PAGE)
WAN_TEXT = Model("umt5_xxl_fp8_e4m3fn_scaled.safetensors", "text_encoders",
                 f"{WAN_REPACK}/text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors", WAN_PAGE)
WAN_VAE = Model("wan_2.1_vae.safetensors", "vae", f"{WAN_REPACK}/vae/wan_2.1_vae.safetensors", WAN_PAGE)
WAN22_REPACK = f"{HF}/Comfy-Org/Wan_2.2_ComfyUI_Repackaged/resolve/main/split_files"
WAN22_PAGE = "Hugging Face: Comfy-Org/Wan_2.2_ComfyUI_Repackaged"


def wan22_file(name: str, directory: str) -> Model:
    """A file of Comfy-Org's Wan 2.2 repackage (it also carries the umT5 encoder and Wan2.1's VAE, so a
    Wan 2.2 workflow downloads from one page)."""
    return Model(name, directory, f"{WAN22_REPACK}/{directory}/{name}", WAN22_PAGE)


WAN22_HIGH = wan22_file("wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors", "diffusion_models")
WAN22_LOW = wan22_file("wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors", "diffusion_models")
WAN22_5B = wan22_file("wan2.2_ti2v_5B_fp16.safetensors", "diffusion_models")
WAN22_TEXT = wan22_file(WAN_TEXT.name, "text_encoders")
WAN21_VAE_OF_WAN22 = wan22_file(WAN_VAE.name, "vae")
WAN22_VAE = wan22_file("wan2.2_vae.safetensors", "vae")


# The titled groups every workflow is laid out in, left to right, and the node types each holds.
STAGES = {
    "Models": {"CheckpointLoaderSimple", "UNETLoader", "CLIPLoader", "VAELoader", "ControlNetLoader",
               "ADE_LoadAnimateDiffModel", "ADE_ApplyAnimateDiffModelSimple", "ADE_StandardStaticContextOptions",
               "ADE_UseEvolvedSampling"},
    "Video": {"RewindLoadVideo"},
    "Prompts": {"CLIPTextEncode", "Canny", "ControlNetApplyAdvanced", "ACN_AdvancedControlNetApply_v2"},
    "Unsample → resample": {"VAEEncode", "RewindAYSScheduler", "RewindContextOptions", "RewindLatentCoherence",
                            "RewindHighNoiseExpert", "RewindUnsampler", "RewindResampler"},
    "Save": {"VAEDecode", "RewindVideoCombine"},
}


@dataclass(frozen=True)
class Settings:
    """What differs between recipes in the shared chain."""

    ays_model_type: str
    video_preset: str
    width: int
    height: int
    frame_load_cap: int
    resample_cfg: float
    coherence_mode: str
    coherence_strength: float
    context_schedule: str | None = None  # None: the model brings its own windows (AnimateDiff-Evolved)
    context_length: int = 16
    context_overlap: int = 4
    # Two experts (Wan 2.2 A14B): where they switch, and the high-noise expert's resampling cfg (unsampling: 1),
    # Wan 2.2 text-to-video's own (4.0 high against 3.0 low).
    boundary: float = T2V_BOUNDARY
    high_noise_resample_cfg: float = 4.0


@dataclass(frozen=True)
class Loaded:
    """What a recipe's loaders provide to the shared chain; `model` is the low-noise expert where there are two."""

    model: Output
    vae: Output
    positive: Output
    negative: Output
    video: Node
    high_noise_model: Output | None = None


def load_video(g: Graph, s: Settings) -> Node:
    return g.node("RewindLoadVideo", 1, title="Load Video", video=INPUT_VIDEO, model_preset=s.video_preset,
                  custom_width=s.width, custom_height=s.height, frame_load_cap=s.frame_load_cap)


def text_encoders(g: Graph, clip: Output, positive: str) -> tuple[Node, Node]:
    """Titled Positive/Negative: `python -m rewind_queue --prompt` finds the positive one by title."""
    return (g.node("CLIPTextEncode", 1, title="Positive", clip=clip, text=positive),
            g.node("CLIPTextEncode", 1, title="Negative", clip=clip, text=NEGATIVE))


def weak_canny_controlnet(g: Graph, model: Model, frames: Output, vae: Output, positive: Output, negative: Output,
                          strength: float, sliding_context: bool = False) -> tuple[Output, Output]:
    """Edges of the input frames, applied weakly and only over the first 60% of the path: enough to
    hold outlines where the new prompt would drift, too little to copy the input's texture.

    Under AnimateDiff-Evolved's sliding context the ControlNet must follow each window's frames, which
    only Advanced-ControlNet's apply node provides (ADE refuses core ControlNet objects there)."""
    loader = g.node("ControlNetLoader", 0, models=[model], control_net_name=model.name)
    edges = g.node("Canny", 2, image=frames, low_threshold=0.4, high_threshold=0.8)
    common = dict(positive=positive, negative=negative, control_net=loader["CONTROL_NET"], image=edges["IMAGE"],
                  strength=strength, start_percent=0.0, end_percent=0.6)
    applied = (g.node("ACN_AdvancedControlNetApply_v2", 2, **common, vae_optional=vae) if sliding_context
               else g.node("ControlNetApplyAdvanced", 2, **common, vae=vae))
    return applied["positive"], applied["negative"]


def style_transfer(g: Graph, s: Settings, m: Loaded) -> None:
    """The shared chain; the unsampler and resampler see the same conditioning and windows. The AYS
    schedule reads the model, so it tops out at the model's own noise level (AnimateDiff-Evolved's
    sqrt_linear beta schedule reaches sigma 25.2, the AYS tables 14.6)."""
    latent = g.node("VAEEncode", 3, pixels=m.video["images"], vae=m.vae)
    sigmas = g.node("RewindAYSScheduler", 3, model_type=s.ays_model_type, steps=STEPS, denoise=1.0, model=m.model)
    windows = {}
    if s.context_schedule is not None:
        options = g.node("RewindContextOptions", 3, context_schedule=s.context_schedule, context_length=s.context_length,
                         context_overlap=s.context_overlap, fuse_method="pyramid", layout="auto")
        windows = {"context_options": options["context_options"]}
    coherence = g.node("RewindLatentCoherence", 3, mode=s.coherence_mode, strength=s.coherence_strength,
                       start_percent=0.0, end_percent=0.7, low_pass=0.0,
                       **(windows if s.coherence_mode == "window agreement" else {}))
    conditioning = {"model": m.model, "positive": m.positive, "negative": m.negative}
    noise = g.node("RewindUnsampler", 4, **conditioning, latent=latent["LATENT"], cfg=1.0, sigmas=sigmas["SIGMAS"],
                   solver="bdia", exact_iterations=4, **windows, **high_noise_expert(g, s, m, 1.0, "unsampling"))
    clean = g.node("RewindResampler", 4, **conditioning, latent=noise["noise"], cfg=s.resample_cfg,
                   solver="match unsampler", coherence=coherence["coherence"], **windows,
                   **high_noise_expert(g, s, m, s.high_noise_resample_cfg, "resampling"))
    frames = g.node("VAEDecode", 5, samples=clean["latent"], vae=m.vae)
    g.node("RewindVideoCombine", 5, images=frames["IMAGE"], frame_rate=m.video["fps"], audio=m.video["audio"],
           filename_prefix=f"Rewind/{g.name}", format="video/h264-mp4", crf=19)


def high_noise_expert(g: Graph, s: Settings, m: Loaded, cfg: float, stage: str) -> dict:
    """The input that hands one pass the high-noise expert (none with one model): its own node per pass, as
    each pass guides it at its own cfg; the same model and boundary on both, so both switch alike."""
    if m.high_noise_model is None:
        return {}
    expert = g.node("RewindHighNoiseExpert", 3, title=f"High-noise expert ({stage})", high_noise_model=m.high_noise_model,
                    boundary=s.boundary, cfg=cfg)
    return {"high_noise_expert": expert["high_noise_expert"]}


def model_note(title: str, summary: str, models: list[Model], settings: str) -> str:
    """Markdown without inline code: Nodes 2.0 draws it blue on grey, below a readable contrast."""
    lines = [f"## {title}", "", summary, "", "### Models", ""]
    lines += [f"- **{m.name}** → ComfyUI/models/{m.directory}/ — {m.page}" for m in models]
    lines += ["", "### Settings that matter", "", settings, "",
              "Queue once as is: Load Video starts on the pack's sample clip. Then pick or upload your clip in "
              "**Load Video**, write the style in the **Positive** prompt, queue. "
              "Headless: **python -m rewind_queue** with this workflow's API twin from example_workflows/api/, "
              "**--video clip.mp4 --prompt \"...\"**."]
    return "\n".join(lines)


def common_settings(s: Settings) -> str:
    """What every workflow's Note says about the two passes, the prompt and Load Video's size and frame caps."""
    fps = LOAD_PRESETS[s.video_preset].fps
    duration = f"{s.frame_load_cap / fps:.0f} s at the preset's {fps:.0f} fps" if fps else \
        f"about {s.frame_load_cap / 24:.0f} s of 24 fps footage"
    return (
        "- The **Positive** prompt is the style. Both passes read the same prompt wires (and context windows): the "
        "unsampler at cfg **1.0** turns the clip into noise that retraces exactly (solver **bdia**, one model call per step); the resampler "
        f"(solver **match unsampler**, no noise added) at cfg **{s.resample_cfg:g}** pulls it toward the prompt. Raise the "
        "resampler's cfg for a stronger style, lower it toward 1.0 to stay closer to the clip.\n"
        f"- Load Video makes every frame **{s.width}x{s.height}** with resize_mode **crop**: footage of another aspect "
        "(16:9 into a square) loses its sides. Choose **pad** to keep the whole frame, or change custom_width / "
        "custom_height (larger costs memory and time).\n"
        f"- frame_load_cap **{s.frame_load_cap}** loads the first {s.frame_load_cap} frames ({duration}) to bound memory "
        "and time; 0 loads the whole clip, skip_first_frames starts later."
    )


def checkpoint_recipe(name: str, title: str, summary: str, checkpoint: Model, controlnet: Model, s: Settings,
                      positive: str, strength: float) -> Graph:
    """SD1.5 and SDXL: an image model run over the frame batch, with a weak Canny ControlNet."""
    g = Graph(name, STAGES)
    g.note(model_note(title, summary, [checkpoint, controlnet], common_settings(s) + (
        f"\n- ControlNet strength {strength} until 60% of the path: outlines hold, texture is free to change."
        f"\n- Context windows ({s.context_schedule}, {s.context_length} frames) only batch frames to bound VRAM; "
        f"**{s.coherence_mode}** coherence (strength {s.coherence_strength}) is what fights flicker.")))
    loader = g.node("CheckpointLoaderSimple", 0, models=[checkpoint], ckpt_name=checkpoint.name)
    video = load_video(g, s)
    pos, neg = text_encoders(g, loader["CLIP"], positive)
    cn_pos, cn_neg = weak_canny_controlnet(g, controlnet, video["images"], loader["VAE"], pos["CONDITIONING"],
                                           neg["CONDITIONING"], strength)
    style_transfer(g, s, Loaded(loader["MODEL"], loader["VAE"], cn_pos, cn_neg, video))
    return g


def animatediff_recipe(name: str, title: str, summary: str, checkpoint: Model, motion: Model, controlnet: Model,
                       s: Settings, positive: str, strength: float) -> Graph:
    """AnimateDiff and Hotshot-XL: a motion module through AnimateDiff-Evolved, its own context windows
    (the motion module needs them past its positional-encoding length), Advanced-ControlNet's apply."""
    g = Graph(name, STAGES)
    g.note(model_note(title, summary, [checkpoint, motion, controlnet], common_settings(s) + (
        f"\n- AnimateDiff-Evolved's static context ({s.context_length} frames, overlap {s.context_overlap}) windows the "
        "motion module, so Rewind's context options stay unconnected (one windowing, not two)."
        f"\n- ControlNet strength {strength} until 60% of the path; light **{s.coherence_mode}** coherence "
        f"(strength {s.coherence_strength}): the motion module already ties frames together."
        "\n- The AYS scheduler reads the model: AnimateDiff-Evolved's autoselected beta schedule sets how far unsampling goes."
        "\n- Needs **ComfyUI-AnimateDiff-Evolved** and **ComfyUI-Advanced-ControlNet** (ComfyUI Manager → Install Missing "
        "Custom Nodes): AnimateDiff-Evolved's sliding context, used once the clip is longer than one window, only accepts "
        "ControlNets applied with Advanced-ControlNet's *Apply Advanced ControlNet*.")))
    loader = g.node("CheckpointLoaderSimple", 0, models=[checkpoint], ckpt_name=checkpoint.name)
    motion_model = g.node("ADE_LoadAnimateDiffModel", 0, models=[motion], model_name=motion.name)
    applied = g.node("ADE_ApplyAnimateDiffModelSimple", 0, motion_model=motion_model["MOTION_MODEL"])
    context = g.node("ADE_StandardStaticContextOptions", 0, context_length=s.context_length,
                     context_overlap=s.context_overlap, fuse_method="pyramid", use_on_equal_length=False,
                     start_percent=0.0, guarantee_steps=1)
    evolved = g.node("ADE_UseEvolvedSampling", 0, model=loader["MODEL"], m_models=applied["M_MODELS"],
                     context_options=context["CONTEXT_OPTS"], beta_schedule="autoselect")
    video = load_video(g, s)
    pos, neg = text_encoders(g, loader["CLIP"], positive)
    cn_pos, cn_neg = weak_canny_controlnet(g, controlnet, video["images"], loader["VAE"], pos["CONDITIONING"],
                                           neg["CONDITIONING"], strength, sliding_context=True)
    style_transfer(g, s, Loaded(evolved["MODEL"], loader["VAE"], cn_pos, cn_neg, video))
    return g


def wan_recipe(name: str, title: str, summary: str, unets: list[Model], text: Model, vae: Model, s: Settings,
               settings: str = "") -> Graph:
    """Wan: a flow video model (unets[0]; a second is Wan 2.2 A14B's high-noise expert), its umT5 text encoder
    and VAE; Rewind's windows run on its temporal latent axis."""
    g = Graph(name, STAGES)
    g.note(model_note(title, summary, [*unets, text, vae], common_settings(s) + wan_notes(s) + settings))
    loaded = [g.node("UNETLoader", 0, models=[unet], unet_name=unet.name, weight_dtype="default") for unet in unets]
    clip = g.node("CLIPLoader", 0, models=[text], clip_name=text.name, type="wan", device="default")
    vae_loader = g.node("VAELoader", 0, models=[vae], vae_name=vae.name)
    video = load_video(g, s)
    pos, neg = text_encoders(g, clip["CLIP"], "an oil painting, thick impasto brush strokes, warm palette")
    high = loaded[1]["MODEL"] if len(loaded) > 1 else None
    style_transfer(g, s, Loaded(loaded[0]["MODEL"], vae_loader["VAE"], pos["CONDITIONING"], neg["CONDITIONING"], video,
                                high))
    return g


def wan_notes(s: Settings) -> str:
    """What every Wan Note says about the schedule, the loader's preset and the windows, read from the presets."""
    preset = LOAD_PRESETS[s.video_preset]
    latent_frames = (s.context_length - 1) // preset.temporal_compression + 1
    return (f"\n- AYS model_type **Wan2.1** (the flow schedule, for every flow model; flow shift 3). The loader's "
            f"{preset.name} preset: {preset.fps:g} fps, {preset.frame_group}n+1 frames, sizes in multiples of "
            f"{preset.size_multiple}."
            f"\n- Context windows of {s.context_length} frames ({latent_frames} latent frames), overlap "
            f"{s.context_overlap}, on the temporal axis: clips up to {s.context_length} frames run in one window, "
            "longer ones slide; **window agreement** coherence keeps the windows' colour in step.")


def wan_settings(video_preset: str, width: int, height: int, frames: int, **options) -> Settings:
    """Every Wan recipe's chain: AYS Wan2.1 (the flow schedule), resample cfg 3, windows as long as the clip."""
    return Settings("Wan2.1", video_preset, width, height, frames, resample_cfg=3.0, coherence_mode="window agreement",
                    coherence_strength=0.3, context_schedule="static", context_length=frames, **options)


def wan21() -> Graph:
    """Wan2.1 T2V 1.3B."""
    return wan_recipe(
        "wan21", "Rewind: Wan2.1 (1.3B) video style transfer",
        "Unsample the clip with Wan2.1's flow model, resample with a new prompt. Rewind's flow path ends at "
        "sigma 1 without core's division by (1 - sigma), which is what makes unsampling a flow model possible.",
        [WAN_UNET], WAN_TEXT, WAN_VAE, wan_settings("Wan2.1 (16 fps, 4n+1 frames, 16 px)", 832, 480, 81,
                                                    context_overlap=20))


def wan22_a14b() -> Graph:
    """Wan 2.2 A14B T2V: two experts, each pass switching at Wan's boundary."""
    return wan_recipe(
        "wan22_a14b", "Rewind: Wan 2.2 (A14B, two experts) video style transfer",
        "Wan 2.2's 14B text-to-video pair: a high-noise expert takes the steps at and above sigma 0.875, the "
        "low-noise expert the rest, in both passes, so the unsampled noise still resamples exactly through the "
        "switch; only one expert is on the GPU at a time.",
        [WAN22_LOW, WAN22_HIGH], WAN22_TEXT, WAN21_VAE_OF_WAN22,
        wan_settings("Wan2.2 A14B (16 fps, 4n+1 frames, 16 px)", 832, 480, 81, context_overlap=20),
        "\n- **Two experts.** The low-noise expert goes into the samplers' **model**, the high-noise one into the two "
        "**High-noise expert** nodes (boundary **0.875**, Wan 2.2's text-to-video value; 0.9 for the image-to-video "
        "pair; the same on both passes). Their **cfg** is the high-noise expert's: 1.0 unsampling, **4.0** "
        "resampling against the low-noise expert's 3.0, Wan 2.2's own split. With AYS flow shift 3 the high-noise "
        "expert resamples from sigma 1 down to 0.885 (6 of the 16 steps); a higher flow_shift gives it more."
        "\n- **VRAM (16-24 GB):** each fp8 expert is about 14 GB. Rewind unloads the expert that ran before the "
        "other loads, so one is on the GPU at a time (ComfyUI swaps in weights that do not fit); both stay in "
        "system RAM, so plan for 40 GB of it with the text encoder. 832x480 is Wan 2.2's 480p size (1280x720 "
        "its 720p).")


def wan22_5b() -> Graph:
    """Wan 2.2 TI2V 5B: one model on Wan 2.2's own VAE (48 channels, 16x spatial, 24 fps)."""
    return wan_recipe(
        "wan22_5b", "Rewind: Wan 2.2 (TI2V 5B) video style transfer",
        "Wan 2.2's 5B model on its own high-compression VAE: 1280x704 at 24 fps, 121 frames (5 s) in one "
        "context window.",
        [WAN22_5B], WAN22_TEXT, WAN22_VAE,
        wan_settings("Wan2.2 TI2V-5B (24 fps, 4n+1 frames, 32 px)", 1280, 704, 121, context_overlap=24),
        "\n- Wan 2.2's VAE packs 4 frames and 16x16 pixels into one latent of 48 channels; 1280x704 is the "
        "model's own size."
        "\n- **VRAM:** the 5B model is 10 GB in fp16 and the activations of a 121-frame 1280x704 window come on "
        "top: on 16 GB, lower context_length (e.g. 61 frames, overlap 12).")


def sd15() -> Graph:
    s = Settings("SD1", "SD1.5 (8 px)", 512, 512, 48, resample_cfg=3.0, coherence_mode="temporal",
                 coherence_strength=0.4, context_schedule="batched", context_length=16, context_overlap=0)
    return checkpoint_recipe(
        "sd15", "Rewind: SD1.5 video style transfer",
        "Each frame is unsampled to noise and resampled with the new prompt by an SD1.5 image model; the shared "
        "noise path, a weak Canny ControlNet and temporal coherence keep the frames consistent.",
        SD15, SD15_CANNY, s, "a watercolor painting, soft washes of colour, paper texture", strength=0.35)


def sdxl() -> Graph:
    s = Settings("SDXL", "SDXL (8 px)", 1024, 576, 48, resample_cfg=3.0, coherence_mode="temporal",
                 coherence_strength=0.4, context_schedule="batched", context_length=8, context_overlap=0)
    return checkpoint_recipe(
        "sdxl", "Rewind: SDXL video style transfer",
        "The SD1.5 recipe with an SDXL checkpoint at 1024x576, the AYS SDXL schedule and an SDXL Canny ControlNet.",
        SDXL, SDXL_CANNY, s, "a cel-shaded anime film still, clean line art, vivid colours", strength=0.3)


def animatediff() -> Graph:
    s = Settings("SD1", "AnimateDiff (8 px, 8 fps)", 512, 512, 64, resample_cfg=3.0, coherence_mode="temporal",
                 coherence_strength=0.2, context_length=16, context_overlap=4)
    return animatediff_recipe(
        "animatediff", "Rewind: AnimateDiff (SD1.5) video style transfer",
        "SD1.5 with the AnimateDiff v3 motion module: the motion module sees 16 frames at once, so the restyled "
        "video moves as one.", SD15, ANIMATEDIFF, SD15_CANNY, s,
        "a claymation scene, plasticine figures, soft studio light", strength=0.3)


def hotshot_xl() -> Graph:
    s = Settings("SDXL", "SDXL (8 px)", 512, 512, 32, resample_cfg=3.0, coherence_mode="temporal",
                 coherence_strength=0.2, context_length=8, context_overlap=2)
    return animatediff_recipe(
        "hotshot_xl", "Rewind: Hotshot-XL (SDXL) video style transfer",
        "SDXL with Hotshot-XL's temporal layers through AnimateDiff-Evolved, in 8-frame windows. Hotshot-XL was "
        "trained at 512x512: an SDXL checkpoint fine-tuned for 512 px (Hugging Face: hotshotco/SDXL-512) looks best.",
        SDXL, HOTSHOT, SDXL_CANNY, s, "a stained glass window, bold lead lines, glowing colours", strength=0.3)


RECIPES = {graph.name: graph for graph in (sd15(), sdxl(), animatediff(), hotshot_xl(), wan21(), wan22_a14b(), wan22_5b())}
