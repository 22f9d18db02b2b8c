"""The services around the portal, all from the environment (secrets only from there):
Microsoft Entra ID and Graph, LiteLLM, Langfuse, Slack and Teams, and the periodic jobs
that keep the portal in step with them.

``portal.settings`` imports every name here: these are Django settings like its own.
"""

import environ

env = environ.Env()

# --- Microsoft Entra ID: sign-in (OpenID Connect, v2.0 endpoints), Graph, the API's tokens ---
ENTRA_TENANT_ID = env("ENTRA_TENANT_ID", default="")
ENTRA_CLIENT_ID = env("ENTRA_CLIENT_ID", default="")
ENTRA_CLIENT_SECRET = env("ENTRA_CLIENT_SECRET", default="")
ENTRA_AUTHORITY_HOST = env("ENTRA_AUTHORITY_HOST", default="https://login.microsoftonline.com")
ENTRA_ALLOWED_TENANTS = env.list(
    "ENTRA_ALLOWED_TENANTS", default=[ENTRA_TENANT_ID] if ENTRA_TENANT_ID else []
)
ENTRA_INFRA_GROUP_ID = env("ENTRA_INFRA_GROUP_ID", default="")
# One tenant: its own authority and issuer. Several: the multi-tenant "organizations"
# authority; the ID token's issuer is then checked against its tid (tenants/entra.py).
ENTRA_AUTHORITY_TENANT = (
    ENTRA_TENANT_ID if set(ENTRA_ALLOWED_TENANTS) <= {ENTRA_TENANT_ID} else "organizations"
)
GRAPH_URL = env("GRAPH_URL", default="https://graph.microsoft.com")
# Only for a non-Microsoft authority (a test double): msal's instance discovery and a CA bundle.
ENTRA_INSTANCE_DISCOVERY = env.bool("ENTRA_INSTANCE_DISCOVERY", default=True)
ENTRA_CA_BUNDLE = env("ENTRA_CA_BUNDLE", default="")
# Sign-in goes through allauth's OpenID Connect provider, with Entra as its one app.
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "provider_class": "tenants.entra.EntraProvider",
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {
                "provider_id": "entra",
                "name": "Microsoft Entra ID",
                "client_id": ENTRA_CLIENT_ID,
                "secret": ENTRA_CLIENT_SECRET,
                "settings": {
                    "server_url": f"{ENTRA_AUTHORITY_HOST}/{ENTRA_AUTHORITY_TENANT}/v2.0",
                    "uid_field": "oid",
                    "fetch_userinfo": False,  # the ID token carries oid, tid and groups
                    "token_auth_method": "client_secret_post",
                    "scope": ["openid", "profile", "email"],
                },
            }
        ]
        if ENTRA_CLIENT_ID
        else [],
    }
}

# Entra ID access tokens for the portal's own API: audience is the app ID URI or the client id.
API_AUDIENCES = env.list(
    "API_AUDIENCES",
    default=[f"api://{ENTRA_CLIENT_ID}", ENTRA_CLIENT_ID] if ENTRA_CLIENT_ID else [],
)
API_SCOPE = env("API_SCOPE", default="Portal.Access")  # delegated scope (users, the CLI)
API_APP_ROLE = env("API_APP_ROLE", default="Portal.Service")  # app role (service principals)
API_JWKS_URL = env(
    "API_JWKS_URL",
    default=f"{ENTRA_AUTHORITY_HOST}/{ENTRA_TENANT_ID or 'common'}/discovery/v2.0/keys",
)

# --- LiteLLM and Langfuse ---------------------------------------------------------------
LITELLM_BASE_URL = env("LITELLM_BASE_URL", default="")
LITELLM_MASTER_KEY = env("LITELLM_MASTER_KEY", default="")
LITELLM_PUBLIC_URL = env("LITELLM_PUBLIC_URL", default=LITELLM_BASE_URL)  # shown to developers
LITELLM_TIMEOUT = env.float("LITELLM_TIMEOUT", default=10.0)
LANGFUSE_HOST = env("LANGFUSE_HOST", default="")
LANGFUSE_ORG_PUBLIC_KEY = env("LANGFUSE_ORG_PUBLIC_KEY", default="")
LANGFUSE_ORG_SECRET_KEY = env("LANGFUSE_ORG_SECRET_KEY", default="")

# --- Slack and Teams: the infra channel, and approvals in chat (see README "Approvals for infra")
NOTIFY_WEBHOOK_URL = env("NOTIFY_WEBHOOK_URL", default="")  # Teams/Slack incoming webhook
SLACK_API_URL = env("SLACK_API_URL", default="https://slack.com/api")
SLACK_BOT_TOKEN = env("SLACK_BOT_TOKEN", default="")
SLACK_CHANNEL = env("SLACK_CHANNEL", default="")
SLACK_SIGNING_SECRET = env("SLACK_SIGNING_SECRET", default="")
TEAMS_WEBHOOK_URL = env("TEAMS_WEBHOOK_URL", default="")
# The Teams bot (Azure Bot resource): with its app id set, the card's buttons decide through
# POST /integrations/teams/messages (the bot's messaging endpoint). Tokens are checked as the
# Bot Framework publishes them: keys from this metadata, issuer, audience = the app id.
TEAMS_BOT_APP_ID = env("TEAMS_BOT_APP_ID", default="")
TEAMS_BOT_OPENID_METADATA_URL = env(
    "TEAMS_BOT_OPENID_METADATA_URL",
    default="https://login.botframework.com/v1/.well-known/openidconfiguration",
)
TEAMS_BOT_ISSUER = env("TEAMS_BOT_ISSUER", default="https://api.botframework.com")
# The bot posts each stage's card itself (Teams routes a press only to the bot that sent the
# card): its client secret, and where to post (the channel's conversation id and the service
# URL Teams gave the bot when it was installed there).
TEAMS_BOT_APP_PASSWORD = env("TEAMS_BOT_APP_PASSWORD", default="")
TEAMS_BOT_SERVICE_URL = env("TEAMS_BOT_SERVICE_URL", default="")
TEAMS_BOT_CONVERSATION_ID = env("TEAMS_BOT_CONVERSATION_ID", default="")
TEAMS_BOT_TOKEN_URL = env(
    "TEAMS_BOT_TOKEN_URL",
    default="https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token",
)
TEAMS_BOT_JWKS_CACHE_SECONDS = env.int("TEAMS_BOT_JWKS_CACHE_SECONDS", default=86400)
# An unknown kid refetches the keys (Microsoft rotated them) at most this often (seconds).
TEAMS_BOT_JWKS_REFETCH_SECONDS = env.int("TEAMS_BOT_JWKS_REFETCH_SECONDS", default=30)
# The metadata is fetched over HTTPS only; a local double needs http.
TEAMS_BOT_ALLOW_HTTP_METADATA = env.bool("TEAMS_BOT_ALLOW_HTTP_METADATA", default=False)

# --- Periodic jobs (Celery beat) ---------------------------------------------------------
CELERY_BEAT_SCHEDULE = {
    "expire-keys": {
        "task": "keys.tasks.expire_keys",
        "schedule": env.int("EXPIRE_KEYS_SECONDS", default=300),
    },
    "remind-expiring": {"task": "approvals.tasks.remind_expiring", "schedule": 3600},
    "reconcile-keys": {"task": "keys.tasks.reconcile_keys", "schedule": 3600},
    "resume-stalled": {
        "task": "approvals.tasks.resume_stalled",
        "schedule": env.int("RESUME_STALLED_SECONDS", default=120),
    },
    "expire-projects": {"task": "projects.tasks.expire_projects", "schedule": 300},
    "pull-project-metrics": {"task": "projects.tasks.pull_project_metrics", "schedule": 3600},
    "refresh-catalogue": {"task": "catalogue.tasks.refresh_catalogue", "schedule": 3600},
    "ingest-spend": {
        "task": "costs.tasks.ingest_spend",
        "schedule": env.int("COSTS_INGEST_SECONDS", default=900),
    },
    "check-budgets": {"task": "costs.tasks.check_budgets", "schedule": 3600},
    "cross-check-aggregates": {"task": "costs.tasks.cross_check_aggregates", "schedule": 86400},
    "sync-directory": {"task": "tenants.tasks.sync_directory", "schedule": 3600},
    "revoke-suspended-keys": {"task": "keys.tasks.revoke_suspended_keys", "schedule": 86400},
    "approval-slas": {"task": "approvals.tasks.sweep_slas", "schedule": 600},
    "access-reviews": {"task": "approvals.tasks.sweep_reviews", "schedule": 3600},
    "sweep-pipeline-keys": {"task": "pipelines.tasks.sweep_pipeline_keys", "schedule": 300},
    "purge-idempotency-records": {"task": "api.tasks.purge_idempotency_records", "schedule": 3600},
}
