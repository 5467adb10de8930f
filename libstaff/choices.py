"""The choices of every model select, fetched with one plain query.

Django's ModelChoiceIterator reads its queryset with `.iterator()`, which on PostgreSQL is a
server-side cursor: DECLARE ... WITH HOLD, FETCH and CLOSE, three round trips and a cursor
the server materialises, for each select each time a form is rendered. Our selects list
sites, groups and types (tens of rows), so the plain query is cheaper; its rows stay cached
on the form's own copy of the queryset (a field's queryset is copied for every form), so a
select shown twice costs one query and nothing outlives the request."""

from django import forms
from django.forms.models import ModelChoiceIterator


class ListedChoiceIterator(ModelChoiceIterator):
    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)

    def __len__(self):
        return len(self.queryset) + (1 if self.field.empty_label is not None else 0)

    def __bool__(self):
        return self.field.empty_label is not None or bool(self.queryset)


def install() -> None:
    """Make it the iterator of every ModelChoiceField (and ModelMultipleChoiceField)."""
    forms.ModelChoiceField.iterator = ListedChoiceIterator
