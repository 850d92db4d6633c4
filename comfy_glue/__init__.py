"""Everything that touches ComfyUI: its V3 node API, its sampler and context-handler slots, its folders,
Cancel and memory, and the reference model as ComfyUI objects. Each shape it relies on is pinned by an
integration test. The core packages never import ComfyUI; the nodes import it only through here."""
