"""The cost benchmark's synthetic organisation and year of spend: the generator.

``seed_org`` makes departments, people, memberships and keys (with their LiteLLM ids);
``daily_rows`` a year of daily spend rows with realistic sparsity (most keys idle most days, a
few busy; a Zipf mix of models; 5 % of spend on keys the portal did not make, one LiteLLM team
the portal does not know); ``copy_daily`` loads them with COPY. bench/costs_dataset.py keeps
what they make as a cached database; bench/web.py seeds with them directly.
Bump ``GENERATOR_VERSION`` when they change what they make (the cached data is rebuilt).
"""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

# 2: ingestion rows drawn from their own random stream; 3: indexes built after the COPY
GENERATOR_VERSION = 3
PROVIDERS = ["azure", "bedrock", "vertex_ai", "openai"]


def seed_org(args, rng):
    from approvals.lifecycle import Status
    from keys.models import VirtualKey
    from tenants.models import Department, Membership, User

    # Department sizes vary (a few large, many small): weights ~ 1/rank^0.7.
    weights = [1 / (i + 1) ** 0.7 for i in range(args.departments)]
    depts = Department.objects.bulk_create(
        [
            Department(
                name=f"Department {i:03d}",
                slug=f"dept-{i:03d}",
                cost_centre=f"CC-{1000 + i // 2}",  # two departments share a cost centre
                litellm_team_id=f"team-{i:03d}",
                monthly_budget=Decimal(rng.choice([500, 1000, 2000, 5000, 10000])),
            )
            for i in range(args.departments)
        ]
    )
    users = User.objects.bulk_create(
        [
            User(
                username=f"user{i}@bench.example",
                email=f"user{i}@bench.example",
                display_name=f"User {i:05d}",
                entra_oid=f"oid-{i:05d}",
            )
            for i in range(args.users)
        ]
    )
    infra = User.objects.create(
        username="infra@bench.example",
        email="infra@bench.example",
        entra_oid="oid-infra",
        is_infra=True,
        display_name="Infra",
    )
    user_dept = rng.choices(range(args.departments), weights=weights, k=args.users)
    members: dict[int, list[int]] = {}
    for u, d in enumerate(user_dept):
        members.setdefault(d, []).append(u)
    memberships = []
    leads = {}
    for d in range(args.departments):
        people = members.setdefault(d, [])
        if not people:  # every department has at least one person
            people.append(rng.randrange(args.users))
        for n, u in enumerate(people):
            role = "lead" if n == 0 else "member"
            memberships.append(Membership(user=users[u], department=depts[d], role=role))
            if n == 0:
                leads[d] = users[u]
    Membership.objects.bulk_create(memberships, ignore_conflicts=True)

    key_owner = [rng.randrange(args.users) for _ in range(args.keys)]
    now = datetime.datetime.now(datetime.UTC)
    keys = VirtualKey.objects.bulk_create(
        [
            VirtualKey(
                requester=users[u],
                department=depts[user_dept[u]],
                name=f"key-{k}",
                llm_models=[],
                max_budget=Decimal(rng.choice([20, 50, 100, 200])),
                budget_duration="30d",
                rpm_limit=60,
                tpm_limit=100000,
                lifetime_days=365,
                justification="bench",
                status=Status.ACTIVE,
                litellm_key_id=f"{k:016x}" + "b" * 48,
                activated_at=now,
            )
            for k, u in enumerate(key_owner)
        ],
        batch_size=5000,
    )
    return {
        "departments": depts,
        "users": users,
        "user_dept": user_dept,
        "keys": keys,
        "key_owner": key_owner,
        "members": members,
        "leads": leads,
        "infra": infra,
    }


def daily_rows(args, rng, org, start: datetime.date, days: int, *, bump: float = 1.0):
    """Yield tuples for DailySpend, day by day: (day, team, user, key, model, provider, ...)."""
    models = [f"model-{m:02d}" for m in range(args.models)]
    model_provider = {m: PROVIDERS[i % len(PROVIDERS)] for i, m in enumerate(models)}
    model_weights = [1 / (i + 1) ** 1.1 for i in range(args.models)]
    price = {m: 0.2 + 3.0 * rng.random() for m in models}  # USD per 1k tokens, roughly
    # Per key: how often it is used and which models; busy keys are rare.
    local = random.Random(args.seed + 1)
    profile = []
    for _ in range(args.keys):
        activity = min(0.9, local.paretovariate(1.6) * 0.08)
        n_models = local.choice([1, 1, 1, 2, 2, 3])
        used = local.choices(models, weights=model_weights, k=n_models)
        profile.append((activity, sorted(set(used))))
    depts = org["departments"]
    user_dept = org["user_dept"]
    n_foreign = max(1, args.keys // 20)  # keys the portal did not make
    for offset in range(days):
        day = start + datetime.timedelta(days=offset)
        weekend = day.weekday() >= 5
        for k, (activity, used) in enumerate(profile):
            p = activity * (0.3 if weekend else 1.0)
            if rng.random() >= p:
                continue
            owner = org["key_owner"][k]
            team = depts[user_dept[owner]].litellm_team_id
            for model in used:
                prompt = int(rng.expovariate(1 / 20000) * bump) + 50
                completion = int(prompt * rng.uniform(0.1, 0.6))
                requests = max(1, (prompt + completion) // 1500)
                failures = 1 if rng.random() < 0.03 else 0
                spend = round((prompt + completion) / 1000 * price[model] / 100, 8)
                yield (
                    day,
                    team,
                    f"oid-{owner:05d}",
                    f"{k:016x}" + "b" * 48,
                    model,
                    model_provider[model],
                    spend,
                    prompt,
                    completion,
                    requests,
                    requests - failures,
                    failures,
                )
        for f in range(n_foreign):
            if rng.random() < 0.05:
                d = rng.randrange(len(depts))
                model = rng.choice(models)
                yield (
                    day,
                    depts[d].litellm_team_id,
                    "",
                    f"foreign-{f:06d}",
                    model,
                    model_provider[model],
                    round(rng.random() * 2, 8),
                    1000,
                    300,
                    2,
                    2,
                    0,
                )
        if rng.random() < 0.5:  # a LiteLLM team the portal does not know
            yield (
                day,
                "team-unknown",
                "",
                "foreign-unknown",
                models[0],
                model_provider[models[0]],
                round(rng.random() * 5, 8),
                5000,
                900,
                3,
                3,
                0,
            )


def copy_daily(org_ids, rows, connection) -> int:
    """COPY rows into DailySpend with the foreign keys resolved in Python (bench seed only)."""
    from costs.models import DailySpend

    dept_by_team, user_by_oid, key_by_hash = org_ids
    cols = (
        "day",
        "team_id",
        "litellm_user_id",
        "key_hash",
        "model",
        "provider",
        "spend",
        "prompt_tokens",
        "completion_tokens",
        "requests",
        "successes",
        "failures",
        "key_alias",
        "department_id",
        "user_id",
        "key_id",
        "updated_at",
    )
    now = datetime.datetime.now(datetime.UTC)
    n = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
        table = DailySpend._meta.db_table
        with raw.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(
                    (
                        *r,
                        "",
                        dept_by_team.get(r[1]),
                        user_by_oid.get(r[2]),
                        key_by_hash.get(r[3]),
                        now,
                    )
                )
                n += 1
    return n


def org_maps(org):
    dept_by_team = {d.litellm_team_id: d.pk for d in org["departments"]}
    user_by_oid = {u.entra_oid: u.pk for u in org["users"]}
    key_by_hash = {k.litellm_key_id: k.pk for k in org["keys"]}
    return dept_by_team, user_by_oid, key_by_hash
