defmodule Demo.Application do
  @moduledoc false
  use Application
  require Logger

  @impl true
  def start(_type, _args) do
    port = env_int("PORT", 4000)
    query = System.get_env("DNS_CLUSTER_QUERY")
    interval = env_int("DNS_CLUSTER_INTERVAL_MS", 3_000)

    children = [
      {Demo.Http, port: port},
      {Demo.Cluster, query: query, interval: interval}
    ]

    with {:ok, pid} <-
           Supervisor.start_link(children, strategy: :one_for_one, name: Demo.Supervisor) do
      Logger.info(
        "demo started: node=#{node()} port=#{port} dns_cluster_query=#{query || "(unset)"}"
      )

      {:ok, pid}
    end
  end

  defp env_int(name, default) do
    case System.get_env(name) do
      nil -> default
      value -> String.to_integer(value)
    end
  end
end
