; ctxpack tree-sitter query for C#.
; Definitions: @definition.<kind> on the definition node plus @name on its name.
; References: @reference.call / @reference.type / @reference.import on the name node.

; ---------------------------------------------------------------- definitions

(class_declaration
  name: (identifier) @name) @definition.class

(struct_declaration
  name: (identifier) @name) @definition.class

(record_declaration
  name: (identifier) @name) @definition.class

(interface_declaration
  name: (identifier) @name) @definition.interface

(enum_declaration
  name: (identifier) @name) @definition.enum

(delegate_declaration
  name: (identifier) @name) @definition.type

(namespace_declaration
  name: [(identifier) (qualified_name)] @name) @definition.module

(file_scoped_namespace_declaration
  name: [(identifier) (qualified_name)] @name) @definition.module

; members: methods, constructors, destructors
(method_declaration
  name: (identifier) @name) @definition.method

(constructor_declaration
  name: (identifier) @name) @definition.method

(destructor_declaration
  name: (identifier) @name) @definition.method

; functions in top-level statements (C# 9 programs)
(global_statement
  (local_function_statement
    name: (identifier) @name) @definition.function)

; constants: `const` fields and `static readonly` fields
(field_declaration
  (modifier "const")
  (variable_declaration
    (variable_declarator
      name: (identifier) @name))) @definition.constant

(field_declaration
  (modifier "static")
  (modifier "readonly")
  (variable_declaration
    (variable_declarator
      name: (identifier) @name))) @definition.constant

(field_declaration
  (modifier "readonly")
  (modifier "static")
  (variable_declaration
    (variable_declarator
      name: (identifier) @name))) @definition.constant

; ----------------------------------------------------------------- references

; calls: Foo(), obj.Foo(), Foo<T>(), obj.Foo<T>()
(invocation_expression
  function: [(identifier) @reference.call
             (generic_name
               .
               (identifier) @reference.call)
             (member_access_expression
               name: [(identifier) @reference.call
                      (generic_name
                        .
                        (identifier) @reference.call)])])

; type uses: anything in a `type:` slot (variables, parameters, properties, casts, `new X()`,
; typeof, constraints, nullable/array element types), return types, base lists, type arguments
(_
  type: [(identifier) @reference.type
         (generic_name
           .
           (identifier) @reference.type)
         (qualified_name
           name: [(identifier) @reference.type
                  (generic_name
                    .
                    (identifier) @reference.type)])])

(method_declaration
  returns: [(identifier) @reference.type
            (generic_name
              .
              (identifier) @reference.type)
            (qualified_name
              name: [(identifier) @reference.type
                     (generic_name
                       .
                       (identifier) @reference.type)])])

(base_list
  [(identifier) @reference.type
   (generic_name
     .
     (identifier) @reference.type)
   (qualified_name
     name: [(identifier) @reference.type
            (generic_name
              .
              (identifier) @reference.type)])])

(type_argument_list
  [(identifier) @reference.type
   (generic_name
     .
     (identifier) @reference.type)
   (qualified_name
     name: [(identifier) @reference.type
            (generic_name
              .
              (identifier) @reference.type)])])

; attributes: [Serializable], [Route("x")], [Ns.Thing]
(attribute
  name: [(identifier) @reference.type
         (qualified_name
           name: (identifier) @reference.type)])

; imports: `using A.B;`, `using static A.B;`, `global using A.B;`, `using X = A.B;`
(using_directive
  [(identifier) (qualified_name)] @reference.import
  .)
