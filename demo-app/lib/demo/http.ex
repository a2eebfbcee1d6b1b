defmodule Demo.Http do
  @moduledoc """
  A tiny HTTP/1.1 server on `:gen_tcp`: `GET /health` answers 200 with this node's name and
  its connected nodes; anything else is 404. One process per connection, one request each.
  """
  use Task, restart: :permanent
  require Logger

  def start_link(opts), do: Task.start_link(__MODULE__, :listen, [Keyword.fetch!(opts, :port)])

  def listen(port) do
    case :gen_tcp.listen(port, [:binary, packet: :http_bin, active: false, reuseaddr: true]) do
      {:ok, socket} ->
        accept(socket)

      {:error, reason} ->
        Logger.error("http: cannot listen on port #{port}: #{:inet.format_error(reason)}")
        exit({:listen, reason})
    end
  end

  defp accept(socket) do
    {:ok, client} = :gen_tcp.accept(socket)
    pid = spawn(fn -> serve(client) end)
    :ok = :gen_tcp.controlling_process(client, pid)
    accept(socket)
  end

  defp serve(client) do
    with {:ok, {:http_request, method, {:abs_path, path}, _version}} <-
           :gen_tcp.recv(client, 0, 5_000),
         :ok <- skip_headers(client) do
      {status, body} = route(method, path)

      :gen_tcp.send(client, [
        "HTTP/1.1 ",
        status,
        "\r\ncontent-type: text/plain\r\ncontent-length: ",
        Integer.to_string(byte_size(body)),
        "\r\nconnection: close\r\n\r\n",
        body
      ])
    end

    :gen_tcp.close(client)
  end

  defp skip_headers(client) do
    case :gen_tcp.recv(client, 0, 5_000) do
      {:ok, :http_eoh} -> :ok
      {:ok, {:http_header, _, _, _, _}} -> skip_headers(client)
      other -> other
    end
  end

  defp route(:GET, "/health"),
    do: {"200 OK", "ok node=#{node()} nodes=#{inspect(Enum.sort(Node.list()))}\n"}

  defp route(_method, _path), do: {"404 Not Found", "not found\n"}
end
