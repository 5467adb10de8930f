"""{% jinja "name" %}: a fragment of the Jinja2 engine (libstaff/jinja.py) rendered in place,
with the Django template's context."""

from django import template
from django.utils.safestring import mark_safe

from libstaff.jinja import render_fragment

register = template.Library()


@register.simple_tag(takes_context=True)
def jinja(context, name: str):
    html = render_fragment(name, context.flatten())
    return mark_safe(html)  # noqa: S308 (autoescaped by Jinja2)
