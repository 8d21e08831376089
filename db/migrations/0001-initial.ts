import { DataTypes, literal, type QueryInterface } from 'sequelize';

const timestamps = {
  created_at: { type: DataTypes.DATE, allowNull: false, defaultValue: literal('now()') },
  updated_at: { type: DataTypes.DATE, allowNull: false, defaultValue: literal('now()') },
};

export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.createTable('user_ai_configs', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    user_id: { type: DataTypes.STRING(255), allowNull: false },
    config_name: { type: DataTypes.STRING(255), allowNull: false },
    config_type: { type: DataTypes.STRING(32), allowNull: false },
    description: { type: DataTypes.TEXT },
    llm_type: { type: DataTypes.STRING(32) },
    model_name: { type: DataTypes.STRING(255) },
    api_key: { type: DataTypes.TEXT },
    api_key_hint: { type: DataTypes.STRING(32) },
    base_url: { type: DataTypes.TEXT },
    max_tokens: { type: DataTypes.INTEGER },
    temperature: { type: DataTypes.REAL },
    system_prompt: { type: DataTypes.TEXT },
    function_name: { type: DataTypes.STRING(64) },
    parameters: { type: DataTypes.JSONB },
    mcp_server_url: { type: DataTypes.TEXT },
    webhook_url: { type: DataTypes.TEXT },
    is_active: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
    priority: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    ...timestamps,
  });
  await qi.addConstraint('user_ai_configs', {
    type: 'check',
    name: 'user_ai_configs_config_type_check',
    fields: ['config_type'],
    where: { config_type: ['llm', 'function_call'] },
  });
  await qi.addIndex('user_ai_configs', ['user_id', 'priority', 'created_at'], { name: 'user_ai_configs_user_order' });
  await qi.addIndex('user_ai_configs', ['user_id', 'config_name'], { unique: true, name: 'user_ai_configs_user_name_unique' });
  await qi.addIndex('user_ai_configs', ['user_id', 'function_name'], {
    unique: true,
    name: 'user_ai_configs_user_function_unique',
    where: { config_type: 'function_call' },
  });

  await qi.createTable('user_session_configs', {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    user_id: { type: DataTypes.STRING(255), allowNull: false },
    session_id: { type: DataTypes.STRING(128), allowNull: false, unique: true },
    workflow_id: { type: DataTypes.STRING(512), allowNull: false },
    device_id: { type: DataTypes.STRING(255) },
    default_llm_id: { type: DataTypes.INTEGER },
    enabled_functions: { type: DataTypes.JSONB },
    session_data: { type: DataTypes.JSONB },
    status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'active' },
    expires_at: { type: DataTypes.DATE },
    last_activity_at: { type: DataTypes.DATE },
    ...timestamps,
  });
  await qi.addConstraint('user_session_configs', {
    type: 'check',
    name: 'user_session_configs_status_check',
    fields: ['status'],
    where: { status: ['active', 'closed', 'expired'] },
  });
  await qi.addIndex('user_session_configs', ['user_id', 'status'], { name: 'user_session_configs_user_status' });
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.dropTable('user_session_configs');
  await qi.dropTable('user_ai_configs');
}
