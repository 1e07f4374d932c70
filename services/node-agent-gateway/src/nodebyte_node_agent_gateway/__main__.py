from nodebyte_node_agent_gateway.app import main

main()
