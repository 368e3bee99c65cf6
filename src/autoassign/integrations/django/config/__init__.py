"""Optional configuration models (``"autoassign.integrations.django.config"`` in
``INSTALLED_APPS``, then ``migrate``): assignment policies, their links to inboxes, and
capacity policies with per-inbox limits, edited in the Django admin, for hosts that
store none of these themselves. ``AUTOASSIGN['POLICY'] = "models"`` makes the directory
read them (:class:`~autoassign.integrations.django.config.source.ModelPolicies`)."""
