"""The Inpaint tab: paint a mask over an image and watch the model fill it (app.inpainting)."""
