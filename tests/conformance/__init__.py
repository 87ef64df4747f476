"""The project's artefacts judged by outside tools and specifications."""
