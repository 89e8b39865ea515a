"""The Jinja2 template of the HTML report: one page, inline CSS, no script, no external resource."""

from __future__ import annotations

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em auto; max-width: 75em;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { border-bottom: 2px solid #446; padding-bottom: .2em; }
h2 { color: #334; border-bottom: 1px solid #ccd; margin-top: 2em; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: .6em 0 1.4em; font-size: .9em; }
th, td { border: 1px solid #bbc; padding: .25em .6em; }
th { background: #eef; }
tr:nth-child(even) td { background: #f7f7fb; }
figure { display: inline-block; margin: .5em; vertical-align: top; text-align: center; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .8em; color: #555; }
pre { background: #f4f4f8; padding: .8em; overflow-x: auto; font-size: .85em; }
.note { color: #666; font-size: .9em; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p class="note">Written {{ written }} from {{ run_dir }}.
Self-contained: every figure is inlined.</p>
<nav>{% for id, name in sections %}<a href="#{{ id }}">{{ name }}</a>{% endfor %}</nav>

<h2 id="protocol">Protocol</h2>
<table class="protocol">
{% for key, value in protocol %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>

<h2 id="tables">Tables</h2>
{% for name, html in tables %}<section class="md-tables">
<h3>{{ name }}</h3>
{{ html | safe }}
</section>
{% else %}<p>No tables.</p>{% endfor %}

<h2 id="figures">Figures</h2>
{% for name, uri in figures %}<figure><img src="{{ uri }}" alt="{{ name }}">
<figcaption>{{ name }}</figcaption></figure>
{% else %}<p>No figures (make them with <code>python -m benchmark figures RUN_DIR</code>).</p>
{% endfor %}

<h2 id="curves">Training curves</h2>
{% for name, uri in curves %}<figure><img src="{{ uri }}" alt="{{ name }}">
<figcaption>{{ name }}</figcaption></figure>
{% else %}<p>No training log.</p>{% endfor %}

<h2 id="environment">Environment</h2>
{% for record in environment %}<table class="env">
{% for key, value in record %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>
{% endfor %}</table>
{% else %}<p>No env.json.</p>{% endfor %}

<h2 id="config">Configuration</h2>
<pre>{{ config }}</pre>
</body>
</html>
"""
