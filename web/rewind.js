// Rewind's frontend extension: only what the stock frontend does not do for the pack's nodes.
// - Video Combine: tell the Nodes 2.0 renderer its result is a video (it otherwise draws an <img>)
//   and hide the widgets the chosen format ignores.
// - Video previews on Rewind nodes play muted and loop, as VideoHelperSuite's do.
// - Roundtrip Report: show its PSNR line on the node.
// - Template browser: the example workflows with titles, descriptions, thumbnails and in order (the
//   frontend gives custom-node templates only their file names, in the server's file-system order).
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { ComfyWidgets } from "../../scripts/widgets.js";

const COMBINE = "RewindVideoCombine";
const VIDEO_NODES = new Set(["RewindLoadVideo", "RewindLoadVideoPath", COMBINE]);

// Per format: how the node previews it and which of FORMAT_DEPENDENT apply. Mirrors video_io.FORMATS
// (tests/test_web_extension.py checks that the two agree).
const FORMAT_DEPENDENT = ["loop_count", "crf", "pix_fmt"];
const FORMATS = {
  "image/gif": {"preview": "image", "widgets": ["loop_count"]},
  "image/webp": {"preview": "image", "widgets": ["loop_count", "crf"]},
  "video/h264-mp4": {"preview": "video", "widgets": ["crf", "pix_fmt"]},
  "video/h265-mp4": {"preview": "video", "widgets": ["crf", "pix_fmt"]},
  "video/webm": {"preview": "video", "widgets": ["crf", "pix_fmt"]},
  "video/ProRes": {"preview": "video", "widgets": ["pix_fmt"]},
  "image/png-sequence": {"preview": "image", "widgets": []}
};

// The custom-node folder this file is served from (/extensions/<folder>/rewind.js): the templates' module.
const PACK = new URL(".", import.meta.url).pathname.split("/").filter(Boolean).pop();

// Offers the workflows as a described template category (built from web/templates.json, written by
// scripts/build_workflows.py) instead of the bare file-name list; falls back to that list on any failure.
async function describedTemplates() {
  const response = await fetch(new URL("templates.json", import.meta.url));
  if (!response.ok) return null;
  const entries = await response.json();
  return {
    moduleName: PACK,
    title: "Rewind",
    type: "video",
    templates: entries.map((entry) => ({ ...entry, mediaType: "image", mediaSubtype: "jpg" })),
  };
}

function describeTemplates() {
  const described = describedTemplates().catch(() => null);
  const listCustom = api.getWorkflowTemplates.bind(api);
  api.getWorkflowTemplates = async () => {
    const listed = await listCustom();
    const category = await described;
    if (category && listed[PACK]) {  // keep any other file in the folder as a plain template
      const shown = new Set(category.templates.map((template) => template.name));
      listed[PACK] = listed[PACK].filter((name) => !shown.has(name));
      if (!listed[PACK].length) delete listed[PACK];
    }
    return listed;
  };
  const listCore = api.getCoreWorkflowTemplates.bind(api);
  api.getCoreWorkflowTemplates = async (...args) => {
    const core = await listCore(...args);
    const category = await described;
    return category ? [...core, category] : core;
  };
}
describeTemplates();  // before the template browser first loads its lists

// `resize`: after the user picks a format; a loaded workflow keeps its saved size.
function applyFormat(node, resize = false) {
  const format = FORMATS[node.widgets?.find((w) => w.name === "format")?.value];
  if (!format) return;
  node.previewMediaType = format.preview;
  let changed = false;
  for (const widget of node.widgets) {
    if (!FORMAT_DEPENDENT.includes(widget.name)) continue;
    const hidden = !format.widgets.includes(widget.name);
    changed ||= Boolean(widget.hidden) !== hidden;
    widget.hidden = hidden;
    if (widget.options) widget.options.hidden = hidden;  // what the Nodes 2.0 renderer reads
  }
  if (changed) {
    // Nodes 2.0 in frontend 1.32 re-reads a node's widgets only when the list itself changes.
    const widgets = [...node.widgets];
    node.widgets.length = 0;
    node.widgets.push(...widgets);
    if (resize) node.setSize([node.size[0], node.computeSize()[1]]);
    node.setDirtyCanvas?.(true, true);
  }
}

function playLikeVHS(video) {
  video.muted = true;
  video.loop = true;
  video.autoplay = true;
  video.play?.().catch(() => {});  // a browser may refuse until the user interacts; autoplay retries
}

// The node a <video> belongs to: Nodes 2.0 wraps nodes in [data-node-id]; the classic canvas keeps
// the preview in node.videoContainer.
function ownerNode(video) {
  const graph = app.canvas?.graph ?? app.graph;
  const id = video.closest("[data-node-id]")?.dataset.nodeId;
  if (id != null) return graph?.getNodeById(Number(id)) ?? graph?.getNodeById(id);
  return graph?.nodes?.find((node) => node.videoContainer?.contains(video));
}

function watchVideos() {
  const consider = (video) => {
    if (VIDEO_NODES.has(ownerNode(video)?.comfyClass)) playLikeVHS(video);
  };
  new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      for (const added of mutation.addedNodes) {
        if (added.nodeName === "VIDEO") consider(added);
        else added.querySelectorAll?.("video").forEach(consider);
      }
    }
  }).observe(document.body, { childList: true, subtree: true });
}

function showReport(node, lines) {
  let widget = node.widgets?.find((w) => w.name === "report");
  if (!widget) {
    widget = ComfyWidgets.STRING(node, "report", ["STRING", { multiline: true }], app).widget;
    widget.serialize = false;  // a display, not an input: keep it out of saved workflows and prompts
    if (widget.options) widget.options.serialize = false;
    if (widget.element) widget.element.readOnly = true;
  }
  widget.value = lines.join("\n");
  node.setDirtyCanvas?.(true, true);
}

app.registerExtension({
  name: "rewind.nodes",
  setup() {
    watchVideos();
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name === COMBINE) {
      const onNodeCreated = nodeType.prototype.onNodeCreated;
      nodeType.prototype.onNodeCreated = function () {
        const result = onNodeCreated?.apply(this, arguments);
        const format = this.widgets?.find((w) => w.name === "format");
        if (format) {
          const callback = format.callback;
          format.callback = (...args) => {
            const returned = callback?.apply(format, args);
            applyFormat(this, true);
            return returned;
          };
        }
        applyFormat(this);
        return result;
      };
      const onConfigure = nodeType.prototype.onConfigure;
      nodeType.prototype.onConfigure = function () {
        const result = onConfigure?.apply(this, arguments);
        applyFormat(this);  // a loaded workflow sets the format after creation
        return result;
      };
    }
    if (nodeData.name === "RewindRoundtripReport") {
      const onExecuted = nodeType.prototype.onExecuted;
      nodeType.prototype.onExecuted = function (message) {
        const result = onExecuted?.apply(this, arguments);
        if (message?.text) showReport(this, message.text);
        return result;
      };
    }
  },
});
