# One image for every Python part of the toolkit (monolith, proxy, ACL, new services, plan, dashboard, CLI).
# docker-compose.yml picks the part with `command:`.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY strangler_settings ./strangler_settings
COPY legacy_monolith ./legacy_monolith
COPY local_stack ./local_stack
COPY strangler_cli ./strangler_cli
COPY strangler_proxy ./strangler_proxy
COPY acl ./acl
COPY new_services ./new_services
COPY migration_plan ./migration_plan
COPY strangler_dashboard ./strangler_dashboard
# the plan the dashboard's board and `strangler plan` read (STRANGLER_PLAN_FILE)
COPY migration-plan.yaml ./
# Without the `local` extra: the image runs against real PostgreSQL, Kafka and Debezium Connect
# (docker-compose.yml), never the embedded ones that `strangler up` starts.
# /keys: mount point of the identity key volume; made here so a fresh named volume
# takes this directory's owner (the app user) rather than root's.
RUN pip install --no-cache-dir . && useradd --system app && mkdir /keys && chown app /keys
USER app
