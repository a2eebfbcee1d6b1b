defmodule Demo.MixProject do
  use Mix.Project

  # No dependencies at all: the release builds offline with Debian's elixir package.
  def project do
    [
      app: :demo,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: [],
      releases: [
        demo: [
          include_executables_for: [:unix],
          include_erts: true,
          # Release output outside the source tree (an ignored folder), see scripts/demo-image.
          path: System.get_env("DEMO_RELEASE_PATH", "_build/#{Mix.env()}/rel/demo")
        ]
      ]
    ]
  end

  def application do
    [extra_applications: [:logger], mod: {Demo.Application, []}]
  end
end
