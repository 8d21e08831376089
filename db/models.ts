// Sequelize models, bound to a given Sequelize instance (no global connection).
// The schema itself is owned by the migrations in db/migrations; models never sync().
import { DataTypes, Model, type CreationOptional, type InferAttributes, type InferCreationAttributes, type Sequelize } from 'sequelize';

export const CONFIG_TYPES = ['llm', 'function_call'] as const;
export type ConfigType = (typeof CONFIG_TYPES)[number];
export const SESSION_STATUSES = ['active', 'closed', 'expired'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

export class UserAIConfig extends Model<InferAttributes<UserAIConfig>, InferCreationAttributes<UserAIConfig>> {
  declare id: CreationOptional<number>;
  declare user_id: string;
  declare config_name: string;
  declare config_type: ConfigType;
  declare description: CreationOptional<string | null>;
  declare llm_type: CreationOptional<string | null>;
  declare model_name: CreationOptional<string | null>;
  /** AES-256-GCM ciphertext (lib/secret-box); never the plain key. */
  declare api_key: CreationOptional<string | null>;
  declare api_key_hint: CreationOptional<string | null>;
  declare base_url: CreationOptional<string | null>;
  declare max_tokens: CreationOptional<number | null>;
  declare temperature: CreationOptional<number | null>;
  declare system_prompt: CreationOptional<string | null>;
  declare function_name: CreationOptional<string | null>;
  declare parameters: CreationOptional<Record<string, unknown> | null>;
  declare mcp_server_url: CreationOptional<string | null>;
  declare webhook_url: CreationOptional<string | null>;
  /** Signing secret of a webhook, AES-256-GCM ciphertext like api_key. */
  declare webhook_secret: CreationOptional<string | null>;
  /** Request headers for an MCP server: header name to ciphertext of its value. */
  declare mcp_headers: CreationOptional<Record<string, string> | null>;
  declare is_active: CreationOptional<boolean>;
  declare priority: CreationOptional<number>;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

export class UserSessionConfig extends Model<InferAttributes<UserSessionConfig>, InferCreationAttributes<UserSessionConfig>> {
  declare id: CreationOptional<number>;
  declare user_id: string;
  declare session_id: string;
  declare workflow_id: string;
  declare device_id: CreationOptional<string | null>;
  declare default_llm_id: CreationOptional<number | null>;
  declare enabled_functions: CreationOptional<string[] | null>;
  declare session_data: CreationOptional<Record<string, unknown> | null>;
  declare status: CreationOptional<SessionStatus>;
  declare expires_at: CreationOptional<Date | null>;
  declare last_activity_at: CreationOptional<Date | null>;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

export interface Models {
  UserAIConfig: typeof UserAIConfig;
  UserSessionConfig: typeof UserSessionConfig;
}

/** Postgres returns REAL as number but DECIMAL/BIGINT as strings; keep the types honest. */
const common = { underscored: true, timestamps: true, createdAt: 'created_at', updatedAt: 'updated_at' } as const;

export function defineModels(sequelize: Sequelize): Models {
  UserAIConfig.init(
    {
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
      function_name: { type: DataTypes.STRING(128) },
      parameters: { type: DataTypes.JSONB },
      mcp_server_url: { type: DataTypes.TEXT },
      webhook_url: { type: DataTypes.TEXT },
      webhook_secret: { type: DataTypes.TEXT },
      mcp_headers: { type: DataTypes.JSONB },
      is_active: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
      priority: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      created_at: { type: DataTypes.DATE },
      updated_at: { type: DataTypes.DATE },
    },
    { sequelize, tableName: 'user_ai_configs', ...common },
  );
  UserSessionConfig.init(
    {
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
      created_at: { type: DataTypes.DATE },
      updated_at: { type: DataTypes.DATE },
    },
    { sequelize, tableName: 'user_session_configs', ...common },
  );
  return { UserAIConfig, UserSessionConfig };
}
