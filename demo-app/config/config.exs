import Config

# One plain line per event on stdout (the container's log stream).
config :logger, :console, format: "$time [$level] $message\n"
config :logger, level: :info
