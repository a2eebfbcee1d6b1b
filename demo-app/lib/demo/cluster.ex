defmodule Demo.Cluster do
  @moduledoc """
  DNS peer discovery the way Phoenix's DNSCluster does it.

  Every `interval` ms: resolve `query` (A records), build `:"<basename>@<ip>"` for every
  address with this node's own basename, and `Node.connect/1` the ones not yet connected.
  Does nothing when the node is not distributed or no query is given.
  Logs every node that connects or disconnects.
  """
  use GenServer
  require Logger

  @connect_timeout 5_000

  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: __MODULE__)

  @impl true
  def init(opts) do
    query = Keyword.get(opts, :query)

    cond do
      query in [nil, ""] ->
        Logger.info("cluster: DNS_CLUSTER_QUERY is not set, no discovery")
        :ignore

      not Node.alive?() ->
        Logger.warning(
          "cluster: node is not distributed (RELEASE_DISTRIBUTION=none?), no discovery"
        )

        :ignore

      true ->
        :ok = :net_kernel.monitor_nodes(true)
        [basename, _host] = node() |> Atom.to_string() |> String.split("@", parts: 2)
        state = %{query: query, basename: basename, interval: Keyword.fetch!(opts, :interval)}
        {:ok, state, {:continue, :discover}}
    end
  end

  @impl true
  def handle_continue(:discover, state) do
    discover(state)
    Process.send_after(self(), :discover, state.interval)
    {:noreply, state}
  end

  @impl true
  def handle_info(:discover, state), do: handle_continue(:discover, state)

  def handle_info({:nodeup, node}, state) do
    Logger.info("cluster: node connected #{node}; nodes=#{inspect(Node.list())}")
    {:noreply, state}
  end

  def handle_info({:nodedown, node}, state) do
    Logger.info("cluster: node disconnected #{node}; nodes=#{inspect(Node.list())}")
    {:noreply, state}
  end

  defp discover(%{query: query, basename: basename}) do
    connected = MapSet.new([node() | Node.list()])

    query
    |> lookup()
    |> Enum.map(&:"#{basename}@#{:inet.ntoa(&1)}")
    |> Enum.reject(&MapSet.member?(connected, &1))
    |> Task.async_stream(&{&1, Node.connect(&1)},
      timeout: @connect_timeout,
      on_timeout: :kill_task,
      ordered: false
    )
    |> Enum.each(fn
      {:ok, {_node, true}} -> :ok
      {:ok, {node, other}} -> Logger.debug("cluster: connect #{node}: #{inspect(other)}")
      {:exit, reason} -> Logger.debug("cluster: connect timed out: #{inspect(reason)}")
    end)
  end

  defp lookup(query) do
    case :inet_res.getbyname(String.to_charlist(query), :a) do
      {:ok, {:hostent, _name, _aliases, :inet, _len, addresses}} -> addresses
      {:error, _} -> []
    end
  end
end
