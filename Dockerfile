# The portal's image: web (the default command), worker and beat (see deploy/k8s).
# Built for production and run as built: DEBUG=0 for collectstatic and at runtime alike.
# Without Docker, scripts/build-image-tree.sh makes the same file tree (CI checks it).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DEBUG=0
WORKDIR /app
COPY pyproject.toml README.md ./
COPY portal portal
COPY tenants tenants
COPY keys keys
COPY costs costs
RUN pip install --no-cache-dir .
COPY . .
RUN sh scripts/collectstatic.sh
# A numeric user, so Kubernetes can check runAsNonRoot; the code is root's and read-only.
USER 65534:65534
EXPOSE 8000
CMD ["gunicorn", "portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
