"""A small Django project: the unmodified django-helpdesk package, assigned by
autoassign. The host's own lines are marked ``# host`` in settings.py and are all of
autoassign_host.py."""
