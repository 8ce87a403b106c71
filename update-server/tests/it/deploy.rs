//! The deployment files parse and agree with the server: the ports, the endpoints the
//! probes call, the configuration keys (loaded by the real binary), non-root users.
//! No container engine runs here; these checks read the files.

use serde_json::Value;
use std::process::Command;

const COMPOSE: &str = include_str!("../../../deploy/compose.yaml");
const NGINX: &str = include_str!("../../../deploy/nginx.conf");
const KUBERNETES: &str = include_str!("../../../deploy/kubernetes.yaml");
const EXAMPLE_CONFIG: &str = include_str!("../../../deploy/update-server.toml");
const SYSTEMD: &str = include_str!("../../../deploy/update-server.service");
const DOCKERFILE: &str = include_str!("../../../Dockerfile");

/// YAML (merge keys applied) as JSON values, one per document.
fn yaml_documents(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| {
            let mut value =
                <serde_yaml_ng::Value as serde::Deserialize>::deserialize(doc).expect("valid YAML");
            value.apply_merge().expect("merge keys apply");
            serde_json::to_value(value).expect("YAML as JSON")
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// `update-server --config FILE --print-config` on `text`: the effective configuration.
fn load_config(text: &str) -> toml::Table {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("update-server.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_update-server"))
        .env_clear()
        .arg("--config")
        .arg(&path)
        .arg("--print-config")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the server refuses the file: {stderr}"
    );
    toml::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap()
}

#[test]
fn compose_runs_two_replicas_behind_the_proxy_on_one_postgres() {
    let docs = yaml_documents(COMPOSE);
    assert_eq!(docs.len(), 1);
    let services = docs[0]["services"].as_object().expect("services");
    let replicas: Vec<&String> = services
        .iter()
        .filter(|(_, s)| s["image"] == "update-server:latest")
        .map(|(name, _)| name)
        .collect();
    assert_eq!(replicas.len(), 2, "{replicas:?}");
    for name in &replicas {
        let service = &services[name.as_str()];
        assert_eq!(service["build"]["dockerfile"], "Dockerfile");
        let url = service["environment"]["UPDATE_SERVER_DATABASE_URL"]
            .as_str()
            .unwrap();
        assert!(
            url.starts_with("postgres://") && url.contains("@postgres:5432/"),
            "{url}"
        );
        assert_eq!(
            service["depends_on"]["postgres"]["condition"],
            "service_healthy"
        );
        // The proxy sends traffic to each replica, on the port the image listens on.
        assert!(
            NGINX.contains(&format!("server {name}:8000")),
            "nginx.conf has no upstream for {name}"
        );
    }
    assert!(
        services["postgres"]["image"]
            .as_str()
            .unwrap()
            .starts_with("postgres:")
    );
    assert!(services["postgres"]["healthcheck"]["test"].is_array());
    assert_eq!(services["proxy"]["ports"][0], "8000:8000");
    assert!(NGINX.contains("listen 8000;"));
    assert!(
        NGINX.contains("location = /metrics"),
        "the proxy keeps /metrics off the public port"
    );
}

#[test]
fn kubernetes_deploys_probed_replicas_behind_a_service() {
    let docs = yaml_documents(KUBERNETES);
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"] == k)
            .unwrap_or_else(|| panic!("no {k}"))
    };
    let deployment = kind("Deployment");
    assert!(deployment["spec"]["replicas"].as_u64().unwrap() >= 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    assert_eq!(container["ports"][0]["name"], "http");
    assert_eq!(container["ports"][0]["containerPort"], 8000);
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], "http");
    assert_eq!(
        container["args"],
        serde_json::json!(["--config", "/etc/update-server/update-server.toml"])
    );
    let env: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(env.contains(&"UPDATE_SERVER_DATABASE_URL") && env.contains(&"UPDATE_SERVER_SECRET"));

    // The ConfigMap's file loads, and listens where the container port is.
    let file = kind("ConfigMap")["data"]["update-server.toml"]
        .as_str()
        .unwrap();
    let config = load_config(file);
    assert_eq!(config["listen"].as_str(), Some("0.0.0.0:8000"));
    assert_eq!(config["disable-package-uploads"].as_bool(), Some(true));

    let service = kind("Service");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
}

#[test]
fn the_example_configuration_loads_with_the_values_it_shows() {
    let file: toml::Table = toml::from_str(EXAMPLE_CONFIG).unwrap();
    let effective = load_config(EXAMPLE_CONFIG);
    for (key, value) in &file {
        assert_eq!(effective.get(key), Some(value), "{key}");
    }
    // It shows every setting, set or commented out.
    for key in effective.keys() {
        assert!(
            EXAMPLE_CONFIG.contains(&format!("\n{key} = "))
                || EXAMPLE_CONFIG.contains(&format!("\n# {key} = ")),
            "deploy/update-server.toml does not mention {key}"
        );
    }
    for secret in ["database-url", "secret", "admin-key", "tls-cert", "tls-key"] {
        assert!(
            EXAMPLE_CONFIG.contains(&format!("\n# {secret} = ")),
            "{secret} is shown commented out"
        );
    }
}

#[test]
fn the_systemd_unit_and_the_dockerfile_run_unprivileged() {
    let mut section = "";
    let mut service = std::collections::BTreeMap::new();
    for line in SYSTEMD.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name;
            continue;
        }
        let (key, value) = line.split_once('=').expect("key=value");
        if section == "Service" {
            service
                .entry(key.to_owned())
                .or_insert_with(Vec::new)
                .push(value.to_owned());
        }
    }
    assert_eq!(service["ExecStart"], ["/usr/local/bin/update-server"]);
    assert_eq!(service["DynamicUser"], ["yes"]);
    assert_eq!(service["StateDirectory"], ["update-server"]);
    assert_eq!(service["KillSignal"], ["SIGTERM"]);
    assert!(
        service["Environment"]
            .contains(&"UPDATE_SERVER_DATA_DIR=/var/lib/update-server".to_owned())
    );
    assert!(
        service["Environment"]
            .contains(&"UPDATE_SERVER_CONFIG=/etc/update-server/update-server.toml".to_owned())
    );

    let stages = DOCKERFILE
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert_eq!(stages, 2, "a build stage and a run stage");
    let user = DOCKERFILE
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("a USER line");
    assert!(!user.contains("root") && !user.ends_with(" 0"), "{user}");
    assert!(DOCKERFILE.contains("UPDATE_SERVER_LISTEN=0.0.0.0:8000"));
    assert!(DOCKERFILE.contains("EXPOSE 8000"));
    assert!(DOCKERFILE.contains("cargo build --release --locked -p update-server"));
}
