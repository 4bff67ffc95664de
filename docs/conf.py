"""Sphinx configuration of the companion site (``make site``; built by ``scripts/build_site.py``).

The site shows the notebooks as stored (with the outputs of their ``default``
runs), never executes them, and fetches nothing at build or view time: the
book theme's assets ship with it, and MathJax comes from the
``sphinx-mathjax-offline`` package and is copied into the site.
"""

project = "What secrets do your manifolds hold? A companion"
author = "the geomlib authors"
copyright = "2026, the geomlib authors"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 copied into _static: no CDN
]

root_doc = "index"
exclude_patterns = ["_build", "README.md", "**.ipynb_checkpoints"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

nb_execution_mode = "off"  # the stored notebooks are the content
nb_ipywidgets_js = {}  # no widget state is stored; this keeps require.js from a CDN out of every page
nb_merge_streams = True
# Markdown outputs (each notebook's claims ledger) through MyST, which has tables; plain CommonMark has not.
nb_render_markdown_format = "myst"
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True

html_theme = "sphinx_book_theme"
html_title = "Local geometry of generative models: a companion"
html_theme_options = {
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "use_download_button": True,  # each notebook page offers its .ipynb (with outputs)
    "use_fullscreen_button": False,
}
# The theme reads the colour mode from localStorage, else from this; left empty, a fresh browser
# logs "Got invalid theme mode" on its first page.
html_context = {"default_mode": "light"}
html_show_sourcelink = False
html_static_path = ["_static"]
html_css_files = ["companion.css"]  # wide tables, outputs and code scroll inside the text column
html_favicon = "_static/favicon.png"
html_last_updated_fmt = None
# "ref.python": geomlib re-exports Sketch and Polytope, so a type in a signature has two equal targets.
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "ref.python"]
