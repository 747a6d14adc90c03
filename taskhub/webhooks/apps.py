from django.apps import AppConfig

from taskhub.tenancy.roles import Role, register_permissions


class WebhooksConfig(AppConfig):
    name = "taskhub.webhooks"
    label = "webhooks"

    def ready(self) -> None:
        from taskhub.core.schema import describe_tag  # noqa: PLC0415 - loads DRF, after the registry

        register_permissions(
            {
                # A webhook's URL and deliveries show where the organization's data goes: admins only.
                "webhook.read": Role.ADMIN,
                "webhook.write": Role.ADMIN,
                "webhook.delete": Role.ADMIN,
            }
        )
        describe_tag(
            "webhooks",
            "URLs that receive the organization's events (projects, tasks, members), signed per Standard "
            "Webhooks, retried for about a day, every attempt logged (docs/webhooks.md).",
        )
        from taskhub.tenancy.seeding import register_seeder  # noqa: PLC0415
        from taskhub.webhooks.services import seed_webhooks  # noqa: PLC0415 - models are loaded now

        register_seeder(seed_webhooks)
        from taskhub.core.read_ahead import register_write_key  # noqa: PLC0415
        from taskhub.webhooks.events import flag_key  # noqa: PLC0415

        # Every write may emit an event: its "any webhook here?" comes with the request's cache call.
        register_write_key(flag_key)
