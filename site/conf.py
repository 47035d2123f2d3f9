"""Sphinx configuration of the course website (``make site``; see ``course/site.py``).

``course.site`` stages the executed lessons and the landing page into ``build/site-src/`` and runs
``sphinx-build -c site build/site-src build/site``. Notebooks are never executed here.
"""
project = "Deep learning, from numpy backprop to ResNets"
author = "dlcourse"
copyright = "dlcourse, MIT licence"

extensions = [
    "myst_nb",                 # .ipynb and MyST markdown pages
    "sphinx-mathjax-offline",  # MathJax served from _static/, not from a CDN: the site works offline
]
nb_execution_mode = "off"      # the runner executed the lessons; the site shows those outputs
nb_merge_streams = True        # one block per cell for consecutive prints
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
exclude_patterns = [".doctrees", "**/.ipynb_checkpoints"]
suppress_warnings = ["mystnb.unknown_mime_type", "misc.highlighting_failure"]

html_theme = "sphinx_book_theme"
html_title = "Deep learning course"
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": True,  # the executed .ipynb, for a look at the raw outputs
    "use_fullscreen_button": False,
}
# one search: the header's search button (Ctrl+K); the theme would add a second field in the sidebar
html_sidebars = {"**": ["navbar-logo.html", "icon-links.html", "sbt-sidebar-nav.html"]}
html_last_updated_fmt = ""
html_copy_source = True
html_context = {"default_mode": "light"}  # without it the theme logs "invalid theme mode" as an error
html_favicon = "favicon.svg"              # a local icon: no 404 for /favicon.ico
