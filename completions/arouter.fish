# fish completion for arouter
set -l cmds chat models balance keys usage proxy config help
complete -c arouter -f
complete -c arouter -n "not __fish_seen_subcommand_from $cmds" -a chat -d 'chat with any model'
complete -c arouter -n "not __fish_seen_subcommand_from $cmds" -a models -d 'list models'
complete -c arouter -n "not __fish_seen_subcommand_from $cmds" -a balance -d 'show balance and spend'
complete -c arouter -n "not __fish_seen_subcommand_from $cmds" -a keys -d 'manage keys'
complete -c arouter -n "not __fish_seen_subcommand_from $cmds" -a usage -d 'requests, tokens and cost'
complete -c arouter -n "not __fish_seen_subcommand_from $cmds" -a proxy -d 'run the local gateway'
complete -c arouter -n "not __fish_seen_subcommand_from $cmds" -a config -d 'show and check the config'
complete -c arouter -n "not __fish_seen_subcommand_from $cmds" -a help -d 'show help'
complete -c arouter -l config -r -F -d 'config file'
complete -c arouter -l base-url -x -d 'gateway URL'
complete -c arouter -l api-key -x -d 'gateway key'
complete -c arouter -s v -l verbose -d 'say more on stderr'
complete -c arouter -s q -l quiet -d 'only errors on stderr'
complete -c arouter -l version -d 'print the version'
complete -c arouter -s h -l help -d 'print help'
complete -c arouter -n "__fish_seen_subcommand_from config" -a 'path show check'
complete -c arouter -n "__fish_seen_subcommand_from help" -a "$cmds"
complete -c arouter -n "__fish_seen_subcommand_from chat" -s m -l model -x -a 'openai/gpt-4o-mini anthropic/claude-sonnet-4-6 google/gemini-2.5-flash deepseek/deepseek-chat xai/grok-4 kimi/kimi-k2-0905-preview minimax/MiniMax-M2 mistral/mistral-small-latest groq/llama-3.3-70b-versatile cohere/command-a-03-2025 nvidia/meta/llama-3.1-70b-instruct dashscope/qwen-plus openrouter/openrouter/auto ollama/llama3.2 mock/echo' -d model
complete -c arouter -n "__fish_seen_subcommand_from chat" -s s -l system -x -d 'system prompt'
complete -c arouter -n "__fish_seen_subcommand_from chat" -s a -l attach -r -F -d 'attach a file'
complete -c arouter -n "__fish_seen_subcommand_from chat" -s o -l option -x -d 'request parameter KEY=VALUE'
complete -c arouter -n "__fish_seen_subcommand_from chat" -l temperature -x
complete -c arouter -n "__fish_seen_subcommand_from chat" -l max-tokens -x
complete -c arouter -n "__fish_seen_subcommand_from chat" -l no-stream
complete -c arouter -n "__fish_seen_subcommand_from chat" -l json
complete -c arouter -n "__fish_seen_subcommand_from chat" -s u -l usage
complete -c arouter -n "__fish_seen_subcommand_from chat" -s c -l continue
complete -c arouter -n "__fish_seen_subcommand_from chat" -l show-reasoning
complete -c arouter -n "__fish_seen_subcommand_from chat" -l no-save
complete -c arouter -n "__fish_seen_subcommand_from models" -s p -l provider -x -a 'openai anthropic google deepseek xai kimi minimax mistral groq cohere nvidia dashscope openrouter ollama azure mock' -d 'only this provider'
complete -c arouter -n "__fish_seen_subcommand_from models" -l live -d 'ask each provider with a key'
complete -c arouter -n "__fish_seen_subcommand_from models balance keys usage" -l json
complete -c arouter -n "__fish_seen_subcommand_from balance keys usage" -l local -d 'use the local ledger'
set -l keysubs list create show update revoke
complete -c arouter -n "__fish_seen_subcommand_from keys; and not __fish_seen_subcommand_from $keysubs" -a "$keysubs"
complete -c arouter -n "__fish_seen_subcommand_from create update" -l name -x -d 'key name'
complete -c arouter -n "__fish_seen_subcommand_from create update" -l budget -x -d 'spend limit in USD, or none'
complete -c arouter -n "__fish_seen_subcommand_from create update" -l rpm -x -d 'requests per minute'
complete -c arouter -n "__fish_seen_subcommand_from create update" -l tpm -x -d 'tokens per minute'
complete -c arouter -n "__fish_seen_subcommand_from create update" -l models -x -d 'allowed model globs, or all'
complete -c arouter -n "__fish_seen_subcommand_from create update" -l expires -x -d 'expiry date or duration, or never'
complete -c arouter -n "__fish_seen_subcommand_from keys; and __fish_seen_subcommand_from list" -l all -d 'revoked keys too'
complete -c arouter -n "__fish_seen_subcommand_from usage" -l since -x -d 'start: YYYY-MM-DD, ISO 8601 or 7d'
complete -c arouter -n "__fish_seen_subcommand_from usage" -l by -x -a 'day model provider key' -d 'grouping'
complete -c arouter -n "__fish_seen_subcommand_from proxy" -l listen -x
complete -c arouter -n "__fish_seen_subcommand_from proxy" -l log -r -F -d 'access log'
complete -c arouter -n "__fish_seen_subcommand_from proxy" -l port-file -r -F -d 'write the port here'
complete -c arouter -n "__fish_seen_subcommand_from proxy" -l allow-remote -d 'allow a non-loopback address'
complete -c arouter -n "__fish_seen_subcommand_from proxy" -l workers -r -d 'event loops, one a thread'
complete -c arouter -n "__fish_seen_subcommand_from proxy" -l stdio -d 'serve one connection on stdin/stdout'
complete -c arouter -n "__fish_seen_subcommand_from proxy" -l status -d 'ask a running proxy how it is'
complete -c arouter -n "__fish_seen_subcommand_from proxy" -l json -d 'with --status: the /health JSON'
