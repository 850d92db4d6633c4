"""The reference model's maths (no ComfyUI): exact denoisers for known data, prompt looks, a weight-free
codec and the roundtrip PSNR. With them every roundtrip error is the sampler's own, and workflows run
without weights; comfy_glue/reference_model.py dresses them as ComfyUI's MODEL, VAE and CLIP."""
from .codec import ReferenceCodec
from .denoisers import DATA, GAUSSIAN, MIXTURE, GaussianMixture, posterior_mean
from .psnr import latent_psnr

__all__ = ["DATA", "GAUSSIAN", "MIXTURE", "GaussianMixture", "ReferenceCodec", "latent_psnr", "posterior_mean"]
