"""docker-compose.yml, the Dockerfile and the Kubernetes manifests describe one deployment.

They cannot run here (no Docker, no cluster); scripts/check-k8s.sh renders and scans the
manifests in CI. These tests parse the files and hold them to the same image and settings.
"""

import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s" / "base"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def manifests() -> dict[str, dict]:
    docs = {}
    for path in K8S.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "kind" in doc and doc["kind"] != "Kustomization":
                docs[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return docs


def dockerfile_cmd() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    return yaml.safe_load(re.search(r"^CMD (.+)$", text, re.M).group(1))


def test_compose_runs_one_image_built_for_production():
    services = compose()["services"]
    portal = {name: services[name] for name in ("migrate", "web", "worker", "beat")}
    assert {s["image"] for s in portal.values()} == {"genai-portal:latest"}
    for name, service in portal.items():
        assert service["build"] == ".", name
        assert service["env_file"] == ".env", name
        assert service["environment"]["DEBUG"] == "0", name
        assert service["read_only"] is True and "/tmp" in service["tmpfs"], name
    for name in ("web", "worker", "beat"):
        assert portal[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_dockerfile_builds_and_runs_with_debug_off():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ENV .*\bDEBUG=0\b", text, re.M)
    assert "DEBUG=1" not in text
    assert "RUN sh scripts/collectstatic.sh" in text
    assert re.search(r"^USER \d+:\d+$", text, re.M)  # numeric: runAsNonRoot can check it


def test_web_runs_the_same_command_everywhere():
    web = compose()["services"]["web"]["command"]
    k8s = manifests()["Deployment/portal-web"]["spec"]["template"]["spec"]["containers"][0]
    readme = (ROOT / "README.md").read_text()
    for command in (shlex.split(web), k8s["command"], dockerfile_cmd()):
        assert command[:2] == ["gunicorn", "portal.wsgi"], command
        assert command[command.index("--workers") + 1] == "3", command
    assert "gunicorn portal.wsgi --bind 0.0.0.0:8000 --workers 3" in readme


def test_kubernetes_workloads_are_locked_down():
    docs = manifests()
    workloads = [d for d in docs.values() if d["kind"] in ("Deployment", "Job")]
    assert {d["metadata"]["name"] for d in workloads} == {
        "portal-web", "portal-worker", "portal-beat", "portal-migrate",
    }  # fmt: skip
    for doc in workloads:
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["image"] == "genai-portal"
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
            assert container["resources"]["requests"] and container["resources"]["limits"]
            refs = {next(iter(ref)): ref[next(iter(ref))]["name"] for ref in container["envFrom"]}
            assert refs == {"configMapRef": "portal-config", "secretRef": "portal-secrets"}
        assert {"name": "tmp", "emptyDir": pod["volumes"][0]["emptyDir"]} in pod["volumes"]
    beat = docs["Deployment/portal-beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"]["type"] == "Recreate"
    web = docs["Deployment/portal-web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert docs["HorizontalPodAutoscaler/portal-web"]["spec"]["minReplicas"] >= 2
    assert docs["PodDisruptionBudget/portal-web"]["spec"]["minAvailable"] == 1
