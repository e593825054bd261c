# Outrigger on Nomad: the "web" app with its Outrigger sidecar in one group.
#
#   nomad job run deploy/nomad/web.nomad.hcl
#
# Both tasks share the group's network namespace (bridge mode, which needs
# the CNI plugins on the clients): the app listens on 127.0.0.1:8080 and
# calls payments at 127.0.0.1:9001; the sidecar finds the payments instances
# in Consul and has an inbound listener on 21000 in front of the app.
#
# Here Nomad, not the sidecar, registers web in Consul (service.register is
# false in the config below): in bridge mode only Nomad knows the node's
# address and the dynamic host port mapped to the inbound listener. Nomad
# deregisters web first on a stop, waits shutdown_delay, stops the app, and
# stops the sidecar last, so peers stop sending before anything drains.
#
# The node's Consul agent checks the sidecar through its probe address
# (admin.probe_listen, port 9902 in the group's namespace), which serves
# only /healthz and /ready; the admin API itself (/config, /upstreams,
# /metrics) stays on loopback inside the namespace.
#
# Images: outrigger:dev and outrigger-demo-service:dev are what
# deploy/docker/Dockerfile builds; push them to your registry and change
# the image names below.

job "web" {
  type = "service"

  group "web" {
    count = 2

    network {
      mode = "bridge"
      # A dynamic host port, mapped to the inbound listener.
      port "inbound" {
        to = 21000
      }
      # A dynamic host port, mapped to the sidecar's probe address, for the
      # checks below.
      port "probe" {
        to = 9902
      }
    }

    service {
      name     = "web"
      port     = "inbound"
      provider = "consul"

      # Run by the node's Consul agent through the inbound listener.
      check {
        name     = "app"
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"
      }

      # The sidecar's readiness, as a Kubernetes readinessProbe would be:
      # web is not passing in Consul until every upstream has its first
      # endpoints (its outbound calls would fail), nor while it drains.
      check {
        name     = "outrigger ready"
        type     = "http"
        port     = "probe"
        path     = "/ready"
        interval = "5s"
        timeout  = "2s"
      }

      # The sidecar's liveness: after 3 failures in a row Nomad restarts
      # the outrigger task (a livenessProbe).
      check {
        name     = "outrigger alive"
        type     = "http"
        port     = "probe"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"
        task     = "outrigger"

        check_restart {
          limit = 3
          grace = "30s"
        }
      }
    }

    # Time between the deregistration and the first SIGTERM, for the peers'
    # sidecars to see web leave Consul.
    shutdown_delay = "5s"

    task "outrigger" {
      driver = "docker"

      # Started before the app and kept running beside it; stopped after it.
      lifecycle {
        hook    = "prestart"
        sidecar = true
      }

      config {
        image           = "outrigger:dev"
        entrypoint      = ["/outrigger", "run", "-c", "/local/outrigger.yaml"]
        readonly_rootfs = true
        cap_drop        = ["all"]
      }

      # On SIGTERM the sidecar drains for up to drain_timeout (20s): Nomad
      # must wait longer before it kills. (Nomad caps kill_timeout at the
      # client's max_kill_timeout, 30s unless configured.)
      kill_timeout = "30s"

      env {
        # The Consul agent of this node, on its address rather than loopback
        # (loopback is the group's own namespace): the agent's client_addr
        # must include that address.
        CONSUL_HTTP_ADDR = "${attr.unique.network.ip-address}:8500"
      }

      # With Consul ACLs, pass the token as CONSUL_HTTP_TOKEN, for example
      # from a Nomad Variable at nomad/jobs/web:
      #
      # template {
      #   data        = "{{ with nomadVar \"nomad/jobs/web\" }}CONSUL_HTTP_TOKEN={{ .consul_token }}{{ end }}"
      #   destination = "secrets/consul.env"
      #   env         = true
      # }

      # The sidecar's config, rendered into the task's local/ directory
      # (/local in the container). Keep Nomad-specific values in env above:
      # this YAML is validated as it stands by deploy/deploytest.
      template {
        destination   = "local/outrigger.yaml"
        change_mode   = "signal"
        change_signal = "SIGHUP" # the sidecar reloads its upstreams on SIGHUP
        data          = <<-EOF
          service:
            name: web
            address: 127.0.0.1 # the app, in the same namespace
            port: 8080
            register: false # Nomad registers web (the service block above)
          inbound:
            listen: 0.0.0.0:21000
          consul:
            address: 127.0.0.1:8500 # replaced by CONSUL_HTTP_ADDR from env
            snapshot_file: /alloc/data/outrigger-endpoints.json
          upstreams:
            - name: payments
              listen: 127.0.0.1:9001
              timeout: 10s
              retries:
                attempts: 2
          tracing:
            exporter: otlp
            endpoint: jaeger-collector.service.consul:4317 # through Consul DNS
          admin:
            listen: 127.0.0.1:9901 # `nomad alloc exec -task outrigger ALLOC /outrigger status`
            probe_listen: 0.0.0.0:9902 # the "probe" port: /healthz and /ready only
          log:
            format: json
          drain_timeout: 20s
        EOF
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }

    task "web" {
      driver = "docker"

      config {
        image           = "outrigger-demo-service:dev"
        args            = ["-name", "web-${NOMAD_ALLOC_INDEX}", "-listen", "127.0.0.1:8080"]
        readonly_rootfs = true
        cap_drop        = ["all"]
      }

      kill_timeout = "15s"

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
